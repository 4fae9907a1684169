"""Parity of yolo_lib against an Ultralytics reference file: ``python -m yolo_lib.parity FILE.npz``.

The file uses the fixtures' layout (``shared/fixtures/README.md``): ``input/img``,
``state_dict/<name>`` and any of ``{eval,train}/layerNN``, ``{eval,train}/{box,cls}_raw_P3..5``,
``eval/inference_out``, ``train/bn_after_forward/<name>``, ... Any nc, image size and batch
work (the architecture is read from the state dict); absent keys are skipped.

It prints ONE JSON object ``{"checks": [{"name", "metric", "value", "tol", "ok"}, ...], "ok": ...}``
and exits 0 only when every check is ok (1 otherwise, 2 when the file cannot be read).

Checks come from the check-group functions listed in :data:`CHECK_GROUPS`
(``"module:function"``, imported lazily). A group takes the :class:`ParityCase` and returns a
list of :class:`Check`. Another module adds its own group with ONE line in that list.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

#: Check groups run in this order ("module:function"; each takes a ParityCase).
CHECK_GROUPS: list[str] = [
    "yolo_lib.parity:weights_checks",
    "yolo_lib.parity:eval_checks",
    "yolo_lib.parity:train_checks",
    "yolo_lib.loss.parity_checks:parity_group",
]

#: Tolerances of shared/fixtures/README.md (float32 on a CPU).
TOL_ACTIVATION = 1e-4  # max|diff| <= 1e-4 * max|reference|
TOL_BOX_PX = 2e-3  # decoded boxes, pixels
TOL_SCORE = 1e-5  # decoded sigmoid scores


@dataclass(frozen=True)
class Check:
    """One comparison. ``ok`` is ``value <= tol`` by construction (False when ``value`` is None,
    i.e. it could not be computed; ``note`` then says why)."""

    name: str
    metric: str
    value: float | None
    tol: float
    note: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.value is not None and bool(self.value <= self.tol)

    def as_dict(self) -> dict:
        d = {"name": self.name, "metric": self.metric, "value": self.value, "tol": self.tol, "ok": self.ok}
        if self.note is not None:
            d["note"] = self.note
        return d


def failed(name: str, note: str) -> Check:
    """A check that could not run (missing input, unusable weights, shape mismatch)."""
    return Check(name, "error", None, 0.0, note)


def compare_relative(name: str, got, ref, tol: float = TOL_ACTIVATION) -> Check:
    """max|got - ref| / max|ref| (activations, head outputs, BN statistics)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return failed(name, f"shape {got.shape} != reference {ref.shape}")
    value = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
    return _bounded(name, "max_abs_diff/max_abs_ref", value, tol)


def compare_absolute(name: str, got, ref, tol: float) -> Check:
    """max|got - ref| in the tensor's own units (decoded pixels, scores)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return failed(name, f"shape {got.shape} != reference {ref.shape}")
    return _bounded(name, "max_abs_diff", float(np.max(np.abs(got - ref))), tol)


def _bounded(name, metric, value, tol) -> Check:
    if not math.isfinite(value):
        return Check(name, metric, None, tol, "not finite")
    return Check(name, metric, value, tol)


class ParityCase:
    """A reference file's arrays plus a model holding its weights; outputs computed lazily.

    ``ref`` (dict key → array), ``images`` (B, 3, H, W) float32, ``state_dict`` (names →
    arrays), ``model`` (a YOLO11 with those weights, or None if they could not be imported;
    ``import_error`` then says why). ``eval_outputs()`` / ``train_outputs()`` return dicts
    keyed like the fixture (``layer00``, ``box_raw_P3``, ``inference_out``, ``bn/<name>``),
    compiled once per case. ``train_outputs`` does not change the model's buffers.
    """

    def __init__(self, ref: Mapping[str, np.ndarray]):
        from yolo_lib import weights

        self.ref = dict(ref)
        self.images = self.ref.get("input/img")
        self.state_dict = {k[len(weights.NPZ_PREFIX):]: v for k, v in self.ref.items()
                           if k.startswith(weights.NPZ_PREFIX)}
        self.model, self.import_error = None, None
        if self.images is None:
            self.import_error = "the file has no input/img"
        elif not self.state_dict:
            self.import_error = "the file has no state_dict/* weights"
        else:
            try:
                self.model = weights.model_from_state_dict(self.state_dict)
            except ValueError as err:
                self.import_error = str(err)
        self._cache: dict = {}

    def has(self, prefix: str) -> bool:
        """True when some reference key starts with ``prefix``."""
        return any(k.startswith(prefix) for k in self.ref)

    @property
    def shape(self) -> tuple[int, int, int]:
        b, _, h, w = self.images.shape
        return b, h, w

    def eval_outputs(self) -> dict:
        from yolo_lib.compiled import eval_function

        if "eval" not in self._cache:
            self._cache["eval"] = eval_function(self.model, *self.shape, outputs="all")(self.images)
        return self._cache["eval"]

    def train_outputs(self) -> dict:
        from yolo_lib.compiled import train_forward_function

        if "train" not in self._cache:
            self._cache["train"] = train_forward_function(self.model, *self.shape)(self.images)
        return self._cache["train"]

    def reset_outputs(self) -> None:
        """Forget computed outputs (after changing the model's weights)."""
        self._cache.clear()


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


def load_group(spec: str) -> Callable[[ParityCase], list[Check]]:
    """Import the check-group function named ``"module:function"``."""
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def run(ref: Mapping[str, np.ndarray] | ParityCase, groups: list[str] | None = None) -> dict:
    """All checks of ``groups`` (default :data:`CHECK_GROUPS`) → the report dict."""
    case = ref if isinstance(ref, ParityCase) else ParityCase(ref)
    checks: list[Check] = []
    for spec in groups or CHECK_GROUPS:
        checks.extend(load_group(spec)(case))
    return {"checks": [c.as_dict() for c in checks], "ok": bool(checks) and all(c.ok for c in checks)}


def read_reference(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of a reference ``.npz``."""
    with np.load(Path(path)) as z:
        return {k: z[k] for k in z.files}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m yolo_lib.parity FILE.npz", file=sys.stderr)
        return 2
    try:
        ref = read_reference(argv[0])
    except (OSError, ValueError) as err:
        print(f"cannot read reference file {argv[0]}: {err}", file=sys.stderr)
        return 2
    report = run(ref)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
