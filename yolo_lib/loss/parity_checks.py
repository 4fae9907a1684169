"""Loss, assigner and gradient parity against the Ultralytics fixture (``tal_*``, ``loss_*``, ``grad/*``).

Used by ``tests/test_loss_parity.py``, ``tests/test_loss_gradients.py``, notebook 07 and
``python -m yolo_lib.parity``. Each check returns :class:`Check` rows: a name, the measured error,
the tolerance and whether it passed. Tolerances are those of ``shared/fixtures/README.md``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt

from .detection_loss import detection_loss, target_variables
from .targets import DenseTargets, from_rows

LOSS_RTOL = 1e-4
SCORE_ATOL = 1e-4
BOX_ATOL = 2e-3  # px
GRAD_RTOL = 1e-3
ZERO_FLOOR = 1e-6  # gradients below this fraction of the global gradient norm count as zero
LEVELS = ("P3", "P4", "P5")


class Check(NamedTuple):
    """One parity comparison: ``error <= tolerance`` passes."""

    name: str
    error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.error <= self.tolerance)


def fixture_targets(ref: Mapping[str, np.ndarray]) -> DenseTargets:
    """Dense targets of the fixture's ``input/targets_bidx_cls_xywhn`` rows."""
    return from_rows(ref["input/targets_bidx_cls_xywhn"], ref["input/img"].shape[0])


@lru_cache(maxsize=4)
def head_loss_function(batch_size: int, max_boxes: int, image_hw: tuple[int, int], nc: int):
    """Compiled JAX function: (box P3..P5, cls P3..P5, gt boxes, classes, mask) -> dict of
    total, items, and the assigner outputs labels, boxes, scores, fg_mask, gt_idx."""
    h, w = image_hw
    box = [pt.tensor4(f"box_{p}", dtype="float32", shape=(batch_size, 64, h // s, w // s))
           for p, s in zip(LEVELS, (8, 16, 32))]
    cls = [pt.tensor4(f"cls_{p}", dtype="float32", shape=(batch_size, nc, h // s, w // s))
           for p, s in zip(LEVELS, (8, 16, 32))]
    gt = target_variables(batch_size, max_boxes)
    loss = detection_loss(box, cls, *gt, image_hw=image_hw)
    a = loss.assignment
    names = ("total", "items", "labels", "boxes", "scores", "fg_mask", "gt_idx")
    fn = pytensor.function([*box, *cls, *gt], [loss.total, loss.items, a.labels, a.boxes, a.scores, a.fg_mask, a.gt_idx],
                           mode="JAX")

    def run(box_maps, cls_maps, targets: DenseTargets) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in zip(names, fn(*box_maps, *cls_maps, *targets.as_inputs()))}

    return run


def loss_on_fixture_heads(ref: Mapping[str, np.ndarray], mode: str) -> dict[str, np.ndarray]:
    """Our loss and assignment on the fixture's raw head outputs of ``mode`` ('eval' or 'train')."""
    targets = fixture_targets(ref)
    box = [ref[f"{mode}/box_raw_{p}"] for p in LEVELS]
    cls = [ref[f"{mode}/cls_raw_{p}"] for p in LEVELS]
    b, nc, h8, w8 = cls[0].shape
    fn = head_loss_function(b, targets.max_boxes, (h8 * 8, w8 * 8), nc)
    return fn(box, cls, targets)


def loss_checks(ref: Mapping[str, np.ndarray], mode: str) -> list[Check]:
    """Assigner and loss parity on the fixture's head outputs of ``mode``."""
    ours = loss_on_fixture_heads(ref, mode)
    items_ref = ref[f"{mode}/loss_items"]
    total_ref = float(ref[f"{mode}/loss_total_backward"].reshape(()))
    fg_ref = ref[f"{mode}/tal_fg_mask"]
    return [
        Check(f"{mode}/tal_fg_mask mismatches", float(np.sum(ours["fg_mask"] != fg_ref)), 0.0),
        Check(f"{mode}/tal_target_gt_idx mismatches (positives)",
              float(np.sum((ours["gt_idx"] != ref[f"{mode}/tal_target_gt_idx"]) & fg_ref)), 0.0),
        Check(f"{mode}/tal_labels mismatches (positives)",
              float(np.sum((ours["labels"] != ref[f"{mode}/tal_labels"]) & fg_ref)), 0.0),
        Check(f"{mode}/tal_target_bboxes max abs px", float(np.abs(ours["boxes"] - ref[f"{mode}/tal_target_bboxes"]).max()), BOX_ATOL),
        Check(f"{mode}/tal_target_scores max abs", float(np.abs(ours["scores"] - ref[f"{mode}/tal_target_scores"]).max()), SCORE_ATOL),
        *(Check(f"{mode}/loss_items[{name}] rel", float(abs(ours["items"][i] / items_ref[i] - 1)), LOSS_RTOL)
          for i, name in enumerate(("box", "cls", "dfl"))),
        Check(f"{mode}/loss_total_backward rel", float(abs(float(ours["total"]) / total_ref - 1)), LOSS_RTOL),
    ]


def gradient_function(model, batch_size: int, max_boxes: int, image_hw: tuple[int, int]):
    """Compiled JAX function (images, gt boxes, classes, mask) -> [total, items, *grads] with the
    gradient of the train-mode total w.r.t. every ``model.params`` entry, in that dict's order."""
    x = pt.tensor4("images", dtype="float32", shape=(batch_size, 3, *image_hw))
    out = model.forward(x, train=True)
    gt = target_variables(batch_size, max_boxes)
    loss = detection_loss(out.box, out.cls, *gt, image_hw=image_hw, strides=model.strides)
    grads = pytensor.grad(loss.total, list(model.params.values()))
    return pytensor.function([x, *gt], [loss.total, loss.items, *grads], mode="JAX")


def gradient_checks(ref: Mapping[str, np.ndarray], model=None) -> list[Check]:
    """Gradient of the train-mode total w.r.t. every parameter vs ``grad/*`` (relative norm),
    plus the train-mode loss computed end to end from the images."""
    from yolo_lib.weights import model_from_state_dict

    if model is None:
        sd = {k[len("state_dict/"):]: v for k, v in ref.items() if k.startswith("state_dict/")}
        model = model_from_state_dict(sd)
    targets = fixture_targets(ref)
    images = ref["input/img"]
    fn = gradient_function(model, images.shape[0], targets.max_boxes, images.shape[2:])
    total, items, *grads = fn(images, *targets.as_inputs())
    total_ref = float(ref["train/loss_total_backward"].reshape(()))
    checks = [Check("train/loss_total_backward from images rel", float(abs(float(total) / total_ref - 1)), LOSS_RTOL)]
    missing = [k for k in ref if k.startswith("grad/") and k[5:] not in model.params]
    checks.append(Check("grad/* keys without a parameter", float(len(missing)), 0.0))
    # A few gradients are zero in exact arithmetic (a per-channel constant that a later train-mode
    # BatchNorm subtracts again, e.g. the biases of the BNs inside C2PSA): the reference holds
    # float noise of norm ~1e-8 there. Their error is measured against ZERO_FLOOR * the global norm.
    global_norm = np.sqrt(sum(float(np.sum(ref[f"grad/{n}"].astype(np.float64) ** 2)) for n in model.params))
    for name, g in zip(model.params, grads):
        g_ref = ref[f"grad/{name}"].astype(np.float64)
        scale = max(np.linalg.norm(g_ref), ZERO_FLOOR * global_norm)
        err = np.linalg.norm(np.asarray(g, np.float64) - g_ref) / scale
        checks.append(Check(f"grad/{name} rel norm", float(err), GRAD_RTOL))
    return checks
