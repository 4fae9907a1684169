"""Loss, assigner and gradient parity against an Ultralytics reference (``tal_*``, ``loss_*``, ``grad/*``).

Used by ``tests/test_loss_parity.py``, ``tests/test_loss_gradients.py`` and
``python -m yolo_lib.parity`` (:func:`loss_group`). Tolerances: :mod:`yolo_lib.tolerances`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from yolo_lib.loss.assigner import TOPK
from yolo_lib.loss.inspection import loss_on_heads
from yolo_lib.loss.targets import DenseTargets, from_rows
from yolo_lib.tolerances import GRAD_ZERO_FLOOR, TOL_ACTIVATION, TOL_BOX_PX, TOL_GRAD, TOL_LOSS, TOL_TARGET_SCORE
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.step import TrainingStep
from yolo_lib.weights import model_from_state_dict

from .case import ParityCase
from .checks import Check, failed

LEVELS = ("P3", "P4", "P5")


def fixture_targets(ref: Mapping[str, np.ndarray]) -> DenseTargets:
    """Dense targets of the fixture's ``input/targets_bidx_cls_xywhn`` rows."""
    return from_rows(ref["input/targets_bidx_cls_xywhn"], ref["input/img"].shape[0])


def loss_on_fixture_heads(ref: Mapping[str, np.ndarray], mode: str) -> dict[str, np.ndarray]:
    """Our loss and assignment on the fixture's raw head outputs of ``mode`` ('eval' or 'train')."""
    return loss_on_heads([ref[f"{mode}/box_raw_{p}"] for p in LEVELS], [ref[f"{mode}/cls_raw_{p}"] for p in LEVELS],
                         fixture_targets(ref))


def zero_alignment_tie_picks(ours: Mapping[str, np.ndarray], fg_ref: np.ndarray, gt_ref: np.ndarray,
                             topk: int = TOPK) -> tuple[np.ndarray, np.ndarray]:
    """Which (B, A) anchors may differ between two correct assignments, and which really differ.

    A gt with fewer than ``topk`` candidates of non-zero alignment fills its top-k with
    candidates of alignment exactly 0. Which of those equal values ``torch.topk`` returns is
    unspecified (ours takes the lowest anchor indices), and such a pick has target score 0, so
    it changes no loss term and no gradient. Returns (``tie``: the anchor is, on the side that
    marks it positive, a zero-alignment candidate of a gt with free top-k slots; ``differs``: the
    two sides disagree on fg or on the gt). Uses our (B, M, A) ``candidates`` and ``align``.
    """
    fg_ours, gt_ours = ours["fg_mask"].astype(bool), ours["gt_idx"]
    differs = (fg_ours != fg_ref) | (fg_ours & fg_ref & (gt_ours != gt_ref))
    free_slots = ((ours["candidates"] & (ours["align"] > 0)).sum(-1) < topk)  # (B, M)
    zero_candidate = ours["candidates"] & (ours["align"] == 0) & free_slots[..., None]  # (B, M, A)

    def is_tie(fg, gt):
        picked = np.take_along_axis(zero_candidate, gt[:, None, :].astype(np.int64), axis=1)[:, 0]
        return ~fg | picked

    return is_tie(fg_ours, gt_ours) & is_tie(fg_ref, gt_ref), differs


def loss_checks(ref: Mapping[str, np.ndarray], mode: str) -> list[Check]:
    """Assigner and loss parity on the fixture's head outputs of ``mode``.

    The assignment must be identical on every anchor except genuine ties among zero-alignment
    candidates (see :func:`zero_alignment_tie_picks`), which are left out of the fg, gt index,
    label and target box comparisons; their number is part of the fg check's metric name. The
    shared fixture has none; random reference files can.
    """
    ours = loss_on_fixture_heads(ref, mode)
    items_ref = ref[f"{mode}/loss_items"]
    total_ref = float(ref[f"{mode}/loss_total_backward"].reshape(()))
    fg_ref, gt_ref = ref[f"{mode}/tal_fg_mask"].astype(bool), ref[f"{mode}/tal_target_gt_idx"]
    tie, differs = zero_alignment_tie_picks(ours, fg_ref, gt_ref)
    same = ~(differs & tie)  # (B, A): anchors both sides must agree on
    positives = fg_ref & same
    box_diff = np.abs(ours["boxes"] - ref[f"{mode}/tal_target_bboxes"]).max(-1)
    return [
        Check(f"{mode}/tal_fg_mask", f"mismatches_apart_from_{int(np.sum(~same))}_zero_alignment_ties",
              float(np.sum(differs & ~tie)), 0.0),
        Check(f"{mode}/tal_target_gt_idx", "mismatches_on_positives",
              float(np.sum((ours["gt_idx"] != gt_ref) & positives)), 0.0),
        Check(f"{mode}/tal_labels", "mismatches_on_positives",
              float(np.sum((ours["labels"] != ref[f"{mode}/tal_labels"]) & positives)), 0.0),
        Check(f"{mode}/tal_target_bboxes", "max_abs_diff_px", float(box_diff[same].max(initial=0.0)), TOL_BOX_PX),
        Check(f"{mode}/tal_target_scores", "max_abs_diff", float(np.abs(ours["scores"] - ref[f"{mode}/tal_target_scores"]).max()), TOL_TARGET_SCORE),
        *(Check(f"{mode}/loss_items/{name}", "rel_diff", float(abs(ours["items"][i] / items_ref[i] - 1)), TOL_LOSS)
          for i, name in enumerate(("box", "cls", "dfl"))),
        Check(f"{mode}/loss_total_backward", "rel_diff", float(abs(float(ours["total"]) / total_ref - 1)), TOL_LOSS),
    ]


def fixture_model(ref: Mapping[str, np.ndarray]):
    """A YOLO11 holding the fixture's ``state_dict/*`` weights and BN buffers."""
    return model_from_state_dict({k[len("state_dict/"):]: v for k, v in ref.items() if k.startswith("state_dict/")})


def fixture_train_step(ref: Mapping[str, np.ndarray], lr: float = 0.01):
    """Build the fixture model and the training step (:class:`~yolo_lib.train.step.TrainingStep`,
    the Trainer's, fed the reference's float images and normalised targets, without an EMA) that
    also returns the gradients; run one optimizer step on the fixture batch. SGD with the
    recipe's weight decay (unscaled) and clipping. Returns (model, step, step output)."""
    model = fixture_model(ref)
    targets = fixture_targets(ref)
    images = ref["input/img"]
    sgd = SGD(model.params, TrainConfig.weight_decay, TrainConfig.max_grad_norm)
    step = TrainingStep(model, sgd, None, images.shape[0], images.shape[2:], targets.max_boxes,
                        input_format="normalised", return_gradients=True)
    return model, step, step.run(images, targets, lr=lr)


def gradient_checks(ref: Mapping[str, np.ndarray], step_output: dict | None = None, model=None) -> list[Check]:
    """End-to-end train-mode checks from the images: loss total, the gradient w.r.t. every
    parameter vs ``grad/*`` (relative norm) and the BN running statistics after the forward vs
    ``train/bn_after_forward/*``. Runs :func:`fixture_train_step` unless its output is given."""
    if step_output is None:
        model, _, step_output = fixture_train_step(ref)
    grads = step_output["gradients"]
    total_ref = float(ref["train/loss_total_backward"].reshape(()))
    checks = [Check("train_step/loss_total_backward", "rel_diff", float(abs(step_output["total"] / total_ref - 1)), TOL_LOSS)]
    missing = [k for k in ref if k.startswith("grad/") and k[5:] not in grads]
    checks.append(Check("grad/keys_without_parameter", "count", float(len(missing)), 0.0))
    # A few gradients are zero in exact arithmetic (a per-channel constant that a later train-mode
    # BatchNorm subtracts again, e.g. the biases of the BNs inside C2PSA): the reference holds
    # float noise of norm ~1e-8 there. Their error is measured against GRAD_ZERO_FLOOR * the global norm.
    global_norm = np.sqrt(sum(float(np.sum(ref[f"grad/{n}"].astype(np.float64) ** 2)) for n in grads))
    for name, g in grads.items():
        g_ref = ref[f"grad/{name}"].astype(np.float64)
        scale = max(np.linalg.norm(g_ref), GRAD_ZERO_FLOOR * global_norm)
        checks.append(Check(f"grad/{name}", "rel_norm_diff", float(np.linalg.norm(g - g_ref) / scale), TOL_GRAD))
    for key in (k for k in ref if k.startswith("train/bn_after_forward/")):
        buf_ref = ref[key]
        ours = np.asarray(model.buffers[key[len("train/bn_after_forward/"):]].get_value())
        checks.append(Check(f"train_step/{key}", "max_abs_diff/max_abs_ref", float(np.abs(ours - buf_ref).max() / np.abs(buf_ref).max()), TOL_ACTIVATION))
    return checks


def loss_group(case: ParityCase) -> list[Check]:
    """Check group for ``python -m yolo_lib.parity``: assigner and loss on the reference head
    outputs (each mode with ``tal_*`` / ``loss_*`` keys), then one training step from the images
    for the loss total and every ``grad/*`` key. Takes a :class:`ParityCase`."""
    out = []
    for mode in ("eval", "train"):
        if not (case.has(f"{mode}/loss_items") or case.has(f"{mode}/tal_")):
            continue
        if not all(case.has(f"{mode}/{kind}_raw_{p}") for kind in ("box", "cls") for p in LEVELS):
            out.append(failed(f"{mode}/loss", "the reference has no raw head outputs for this mode"))
        elif not case.has("input/targets_bidx_cls_xywhn"):
            out.append(failed(f"{mode}/loss", "the reference has no input/targets_bidx_cls_xywhn"))
        else:
            out += loss_checks(case.ref, mode)
    if case.has("grad/"):
        if case.model is None:
            out.append(failed("grad", case.import_error))
        else:  # BN statistics after the forward are checked by the train group already
            out += [c for c in gradient_checks(case.ref) if not c.name.startswith("train_step/train/bn")]
    return out
