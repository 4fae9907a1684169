"""The YOLOv8/YOLO11 detection loss (Ultralytics ``v8DetectionLoss``) on raw head outputs.

Inputs per level (P3, P4, P5): box logits (B, 4*16, H, W) and class logits (B, nc, H, W), plus
the dense targets of :mod:`yolo_lib.loss.targets`. Everything is symbolic, so the assignment,
the loss and its gradient compile with the model into one program.

* cls = sum over anchors and classes of BCE-with-logits(logits, target scores) / tss
* box = sum over positives of (1 - CIoU(pred, target)) * weight / tss
* dfl = sum over positives of mean over sides of the two-bin cross entropy * weight / tss

with weight = the anchor's target-score sum and tss = max(sum of all target scores, 1).
``items`` = [7.5 box, 0.5 cls, 1.5 dfl]; the scalar to differentiate is
``total`` = batch_size * sum(items).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt

from yolo_lib.geometry import REG_MAX, STRIDES, corners, dfl_distances, dims, flatten_levels, grid_shapes, make_anchors

from .assigner import TOPK, Assignment, assign
from .boxes import ciou, xywh_to_xyxy, xyxy_to_dist


class LossGains(NamedTuple):
    """Weights of the three loss terms (Ultralytics default.yaml)."""

    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


class DetectionLoss(NamedTuple):
    """Symbolic loss outputs."""

    total: object  # scalar: batch_size * items.sum(), the value to back-propagate
    items: object  # (3,): [gain_box * box, gain_cls * cls, gain_dfl * dfl]
    assignment: Assignment
    pred_boxes: object  # (B, A, 4) decoded xyxy boxes in grid units of each anchor's level
    target_scores_sum: object  # scalar tss


def target_variables(batch_size: int, max_boxes: int, name: str = "gt"):
    """Symbolic inputs for :class:`~yolo_lib.loss.targets.DenseTargets` with static shapes:
    boxes (B, M, 4) float32 normalised xywh, classes (B, M) int32, mask (B, M) bool.

    The shapes are static because JAX needs the index grids of the assigner's gathers and
    scatters as constants; a compiled step therefore serves one (batch_size, max_boxes).
    """
    for label, v in (("batch_size", batch_size), ("max_boxes", max_boxes)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive int, got {v!r}")
    b, m = int(batch_size), int(max_boxes)
    return (
        pt.tensor3(f"{name}_boxes", dtype="float32", shape=(b, m, 4)),
        pt.matrix(f"{name}_classes", dtype="int32", shape=(b, m)),
        pt.matrix(f"{name}_mask", dtype="bool", shape=(b, m)),
    )


def bce_with_logits(logits, targets):
    """Elementwise binary cross entropy on logits: softplus(x) - x * z (stable for any x)."""
    return pt.softplus(logits) - logits * targets


def dfl_loss(box_logits, target_dist, reg_max: int = REG_MAX):
    """Distribution focal loss per anchor, (B, A).

    box_logits (B, A, 4*reg_max); target_dist (B, A, 4) distances in grid units, already clipped to
    [0, reg_max - 1 - 0.01]. Each side's target t sits between bins tl = floor(t) and tl + 1 with
    weights (tl + 1 - t) and (t - tl); the loss is the cross entropy against that two-bin
    distribution, averaged over the 4 sides.
    """
    b, a = dims(box_logits)[:2]
    log_probs = pt.special.log_softmax(box_logits.reshape((b, a, 4, reg_max)), axis=-1)
    left = pt.floor(target_dist)
    w_left = left + 1 - target_dist
    bins = pt.as_tensor_variable(np.arange(reg_max, dtype="float32"))
    left_hot = pt.eq(left[..., None], bins)
    right_hot = pt.eq(left[..., None] + 1, bins)
    soft_target = left_hot * w_left[..., None] + right_hot * (1 - w_left)[..., None]
    return -(soft_target * log_probs).sum(axis=-1).mean(axis=-1)


def detection_loss(
    box_levels,
    cls_levels,
    gt_boxes,
    gt_classes,
    gt_mask,
    image_hw: tuple[int, int],
    strides=STRIDES,
    gains: LossGains = LossGains(),
    topk: int = TOPK,
) -> DetectionLoss:
    """Build the loss graph.

    box_levels: [(B, 64, H_i, W_i)] raw box logits, channel = side*16 + bin, sides (l, t, r, b);
    cls_levels: [(B, nc, H_i, W_i)] raw class logits; gt_*: dense targets (see
    :func:`target_variables`, static batch and max_boxes); image_hw: the input size in pixels (fixes the anchor grid).
    Normalised gt boxes are scaled by (P3 grid size * 8), which is the image size for inputs that
    are multiples of 32 (as in Ultralytics).
    """
    if len(box_levels) != len(strides) or len(cls_levels) != len(strides):
        raise ValueError(f"need one box and one class map per stride {tuple(strides)}, "
                         f"got {len(box_levels)} and {len(cls_levels)}")
    num_classes = cls_levels[0].type.shape[1]
    if num_classes is None:
        raise ValueError("the class maps need a static channel count (number of classes)")
    batch, max_boxes = gt_boxes.type.shape[:2]
    if batch is None or max_boxes is None:
        raise ValueError("gt tensors need static (batch_size, max_boxes) shapes: use target_variables()")
    shapes = grid_shapes(image_hw, strides)
    box_levels = [pt.specify_shape(x, (batch, 4 * REG_MAX, h, w)) for x, (h, w) in zip(box_levels, shapes)]
    cls_levels = [pt.specify_shape(x, (batch, num_classes, h, w)) for x, (h, w) in zip(cls_levels, shapes)]
    points_np, stride_np = make_anchors(shapes=shapes, strides=strides)
    points, stride_col = pt.constant(points_np), pt.constant(stride_np)
    grid_h, grid_w = shapes[0]
    scale = np.array([grid_w, grid_h, grid_w, grid_h], np.float32) * np.float32(strides[0])

    box_flat = flatten_levels(box_levels)  # (B, 64, A): the geometry's layout
    pred_dist = box_flat.dimshuffle(0, 2, 1)  # (B, A, 64): the loss works per anchor
    pred_logits = flatten_levels(cls_levels).dimshuffle(0, 2, 1)  # (B, A, nc)
    x1y1, x2y2 = corners(dfl_distances(box_flat), points.T)  # (B, 2, A) each, grid units
    pred_boxes = pt.concatenate([x1y1, x2y2], axis=1).dimshuffle(0, 2, 1)  # (B, A, 4) xyxy
    gt_xyxy = xywh_to_xyxy(gt_boxes * scale)  # pixels

    assignment = assign(
        pt.sigmoid(pred_logits), pred_boxes * stride_col, points * stride_col,
        gt_classes, gt_xyxy, gt_mask, num_classes, topk=topk,
    )
    scores = assignment.scores
    tss = pt.maximum(scores.sum(), np.float32(1.0))
    cls_loss = bce_with_logits(pred_logits, scores).sum() / tss

    fg = assignment.fg_mask.astype("float32")
    weight = scores.sum(axis=-1) * fg  # (B, A)
    target_boxes = assignment.boxes / stride_col  # grid units
    box_loss = ((1.0 - ciou(pred_boxes, target_boxes)) * weight).sum() / tss
    target_dist = xyxy_to_dist(points, target_boxes)
    dfl = (dfl_loss(pred_dist, target_dist) * weight).sum() / tss

    items = pt.stack([box_loss * np.float32(gains.box), cls_loss * np.float32(gains.cls), dfl * np.float32(gains.dfl)])
    return DetectionLoss(items.sum() * np.float32(batch), items, assignment, pred_boxes, tss)
