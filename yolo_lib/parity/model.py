"""Model parity groups: weights import, eval-mode and train-mode layers, decoded output, BN statistics."""

from __future__ import annotations

from typing import Callable

from .case import ParityCase
from yolo_lib.tolerances import TOL_BOX_PX, TOL_SCORE

from .checks import Check, compare_absolute, compare_relative, failed


def weights_checks(case: ParityCase) -> list[Check]:
    """The reference weights import into a YOLO11 (all entries used, shapes matching)."""
    if case.model is None:
        return [failed("weights/import", case.import_error)]
    # model_from_state_dict refuses unused or missing entries, so none is left out here.
    return [Check("weights/import", "entries_not_imported", 0.0, 0.0,
                  note=f"{len(case.state_dict)} entries imported")]


def _forward_checks(case: ParityCase, mode: str, outputs: Callable[[], dict]) -> list[Check]:
    keys = [k for k in case.ref if k.startswith(f"{mode}/") and
            (k[len(mode) + 1:].startswith(("layer", "box_raw_", "cls_raw_")))]
    if case.model is None or not keys:
        return []
    out = outputs()
    return [compare_relative(k, out[k.split("/", 1)[1]], case.ref[k]) if k.split("/", 1)[1] in out
            else failed(k, "yolo_lib has no such output") for k in keys]


def eval_checks(case: ParityCase) -> list[Check]:
    """Eval mode: every layer and raw head output, then decoded boxes and scores."""
    checks = _forward_checks(case, "eval", case.eval_outputs)
    if case.model is not None and "eval/inference_out" in case.ref:
        got, ref = case.eval_outputs()["inference_out"], case.ref["eval/inference_out"]
        if got.shape != ref.shape:
            checks.append(failed("eval/inference_out", f"shape {got.shape} != reference {ref.shape}"))
        else:
            checks.append(compare_absolute("eval/inference_out/boxes_px", got[:, :4], ref[:, :4], TOL_BOX_PX))
            checks.append(compare_absolute("eval/inference_out/scores", got[:, 4:], ref[:, 4:], TOL_SCORE))
    return checks


def train_checks(case: ParityCase) -> list[Check]:
    """Train mode (batch statistics): layers, raw head outputs, BN running stats afterwards."""
    checks = _forward_checks(case, "train", case.train_outputs)
    prefix = "train/bn_after_forward/"
    keys = [k for k in case.ref if k.startswith(prefix)]
    if case.model is not None and keys:
        out = case.train_outputs()
        for k in keys:
            name = "bn/" + k[len(prefix):]
            checks.append(compare_relative(k, out[name], case.ref[k]) if name in out
                          else failed(k, "no such BN buffer in the model"))
    return checks
