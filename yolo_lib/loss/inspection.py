"""Evaluate the loss and the assignment on concrete head outputs (numpy in, numpy out).

For inspection, notebooks and parity checks: one compiled JAX function per
(batch, max_boxes, image size, classes), cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.geometry import REG_MAX, grid_shapes
from yolo_lib.compilation.modes import LOSS_INSPECTION as LOSS_INSPECTION_MODE
from .detection_loss import detection_loss, target_variables
from .targets import DenseTargets

OUTPUTS = ("total", "items", "target_scores_sum", "pred_boxes", "labels", "boxes", "scores", "fg_mask", "gt_idx",
           "candidates", "topk_mask", "align", "overlaps")


@lru_cache(maxsize=4)
def _compiled(batch: int, max_boxes: int, image_hw: tuple[int, int], nc: int):
    h, w = image_hw
    shapes = grid_shapes((h, w))
    box = [pt.tensor4(f"box_P{i + 3}", dtype="float32", shape=(batch, 4 * REG_MAX, *hw)) for i, hw in enumerate(shapes)]
    cls = [pt.tensor4(f"cls_P{i + 3}", dtype="float32", shape=(batch, nc, *hw)) for i, hw in enumerate(shapes)]
    gt = target_variables(batch, max_boxes)
    loss = detection_loss(box, cls, *gt, image_hw=image_hw)
    a = loss.assignment
    outs = [loss.total, loss.items, loss.target_scores_sum, loss.pred_boxes, a.labels, a.boxes, a.scores, a.fg_mask,
            a.gt_idx, a.candidates, a.topk_mask, a.align, a.overlaps]
    return pytensor.function([*box, *cls, *gt], outs, mode=LOSS_INSPECTION_MODE)


def loss_on_heads(box_maps: Sequence[np.ndarray], cls_maps: Sequence[np.ndarray], targets: DenseTargets) -> dict:
    """Loss and assignment for raw head outputs.

    box_maps: [(B, 64, H/8, W/8), (B, 64, H/16, W/16), (B, 64, H/32, W/32)] box logits;
    cls_maps: the same with nc channels; targets: packed for batch B. Returns a dict of numpy
    arrays named as :data:`OUTPUTS` (``pred_boxes`` in grid units, ``boxes`` in pixels, the
    (B, M, A) intermediates ``candidates``, ``topk_mask``, ``align``, ``overlaps``).
    """
    if len(box_maps) != 3 or len(cls_maps) != 3:
        raise ValueError("need three box maps and three class maps (P3, P4, P5)")
    b, nc, gh, gw = np.shape(cls_maps[0])
    if targets.batch_size != b:
        raise ValueError(f"targets are packed for batch {targets.batch_size}, head outputs have batch {b}")
    fn = _compiled(b, targets.max_boxes, (gh * 8, gw * 8), nc)
    values = fn(*(np.asarray(x, np.float32) for x in (*box_maps, *cls_maps)), *targets.as_inputs())
    return {k: np.asarray(v) for k, v in zip(OUTPUTS, values)}
