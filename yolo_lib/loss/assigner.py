"""Task-aligned assignment (TOOD / Ultralytics ``TaskAlignedAssigner``), symbolic and vectorised.

Everything is computed on (B, M, A) tensors: B images, M padded ground-truth slots per image,
A anchors. The inputs are wrapped in ``disconnected_grad``, so no gradient ever flows through
the assignment; the outputs are targets for the loss.

Steps (Ultralytics 8.4.x):

1. candidates: anchor centre strictly inside the gt box (by more than eps); a gt side shorter
   than ``min_side`` px (16, the second stride: Ultralytics 8.4's ``stride_val``) is set to
   ``min_side`` about its centre, for this test only, so tiny boxes still get candidates;
2. align = score[gt class]^alpha * CIoU(gt, pred).clamp(0)^beta on candidates, 0 elsewhere;
3. per gt keep its ``topk`` anchors by align (then intersect with the candidates; picks of
   padded gt slots are dropped, which is Ultralytics' duplicate removal: there, masked picks
   all point at anchor 0 and counts above 1 are zeroed);
4. an anchor claimed by several gts goes to the gt with the largest CIoU;
5. target score = one-hot(class) * align rescaled per gt so that its maximum equals that gt's
   maximum CIoU over its positives.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad

from yolo_lib.geometry import dims

from .boxes import ciou, xywh_to_xyxy, xyxy_to_xywh

TOPK = 10  # anchors kept per ground truth (Ultralytics' tal_topk)


class Assignment(NamedTuple):
    """Assigner outputs (targets, no gradient) and the intermediates drawn in notebook 07."""

    labels: object  # (B, A) int: class of the assigned gt (of gt 0 for background anchors)
    boxes: object  # (B, A, 4) xyxy pixels of the assigned gt
    scores: object  # (B, A, C) soft one-hot target scores, 0 for background
    fg_mask: object  # (B, A) bool: anchor is a positive
    gt_idx: object  # (B, A) int: index of the assigned gt slot (0 for background)
    candidates: object  # (B, M, A) bool: anchor centre inside the (floored) gt box
    topk_mask: object  # (B, M, A) bool: anchor among the gt's top-k by align metric
    align: object  # (B, M, A) float: alignment metric (0 outside candidates)
    overlaps: object  # (B, M, A) float: CIoU(gt, pred) clamped at 0 (0 outside candidates)


def candidates_in_gts(points, gt_boxes, gt_mask, min_side=16.0, eps=1e-9):
    """(B, M, A) bool: anchor ``points`` (A, 2) px strictly inside gt xyxy boxes (B, M, 4) px.

    Valid gts (``gt_mask`` (B, M)) with width or height below ``min_side`` px get that side
    set to ``min_side`` about the centre first (the 16-px candidate floor of Ultralytics 8.4).
    """
    xywh = xyxy_to_xywh(gt_boxes)
    wh = xywh[..., 2:]
    small = pt.lt(wh, np.float32(min_side)) & gt_mask[..., None]
    wh = pt.switch(small, np.float32(min_side), wh)
    floored = xywh_to_xyxy(pt.concatenate([xywh[..., :2], wh], axis=-1))
    x1, y1, x2, y2 = (floored[..., i][:, :, None] for i in range(4))
    px, py = points[None, None, :, 0], points[None, None, :, 1]
    eps = np.float32(eps)
    return pt.gt(px - x1, eps) & pt.gt(py - y1, eps) & pt.gt(x2 - px, eps) & pt.gt(y2 - py, eps)


def gather_class_scores(pd_scores, gt_labels):
    """(B, M, A): ``pd_scores[b, a, gt_labels[b, m]]`` by integer indexing (exact, no matmul)."""
    b, a = dims(pd_scores)[:2]
    b_idx = pt.arange(b)[:, None, None]
    a_idx = pt.arange(a)[None, None, :]
    return pd_scores[b_idx, a_idx, gt_labels[:, :, None]]


def topk_mask(metric, k: int):
    """(B, M, A) bool: the ``k`` largest entries of each (b, m) row.

    Ties are broken towards the lower anchor index (stable sort); torch.topk leaves the order of
    ties unspecified, so among equal values (in practice: several candidates of align exactly 0
    for a gt with fewer than k non-zero candidates) the picks can differ from Ultralytics'.
    """
    order = pt.argsort(-metric, axis=-1, stable=True)[..., :k]  # (B, M, k)
    b, m, a = dims(metric)
    b_idx = pt.arange(b)[:, None, None]
    m_idx = pt.arange(m)[None, :, None]
    picked = pt.zeros((b, m, a), dtype="bool")
    return pt.set_subtensor(picked[b_idx, m_idx, order], np.array(True))


def assign(
    pd_scores,
    pd_boxes,
    points,
    gt_labels,
    gt_boxes,
    gt_mask,
    num_classes: int,
    topk: int = TOPK,
    alpha: float = 0.5,
    beta: float = 6.0,
    eps: float = 1e-9,
    min_side: float = 16.0,
) -> Assignment:
    """Assign anchors to ground truths.

    pd_scores (B, A, C) sigmoid class scores; pd_boxes (B, A, 4) predicted xyxy px;
    points (A, 2) anchor centres px; gt_labels (B, M) int; gt_boxes (B, M, 4) xyxy px;
    gt_mask (B, M) bool (valid slot). Returns an :class:`Assignment`.
    """
    pd_scores, pd_boxes = disconnected_grad(pd_scores), disconnected_grad(pd_boxes)
    gt_boxes = disconnected_grad(gt_boxes)
    gt_mask = pt.as_tensor_variable(gt_mask).astype("bool")
    gt_labels = pt.as_tensor_variable(gt_labels).astype("int32")
    n_img, n_gt = dims(gt_boxes)[:2]
    f32 = pd_boxes.dtype

    candidates = candidates_in_gts(points, gt_boxes, gt_mask, min_side) & gt_mask[:, :, None]
    pair_ciou = ciou(gt_boxes[:, :, None, :], pd_boxes[:, None, :, :])  # (B, M, A)
    overlaps = pt.switch(candidates, pt.maximum(pair_ciou, 0.0), 0.0).astype(f32)
    class_scores = pt.switch(candidates, gather_class_scores(pd_scores, gt_labels), 0.0).astype(f32)
    align = class_scores ** np.float32(alpha) * overlaps ** np.float32(beta)

    in_topk = topk_mask(align, topk) & gt_mask[:, :, None]
    mask_pos = in_topk & candidates

    # an anchor claimed by several gts goes to the gt of largest CIoU
    claims = mask_pos.sum(axis=1)  # (B, A)
    best_gt = pt.argmax(overlaps, axis=1)  # (B, A)
    is_best = pt.eq(pt.arange(n_gt)[None, :, None], best_gt[:, None, :])
    mask_pos = pt.switch(pt.gt(claims, 1)[:, None, :], is_best, mask_pos)
    fg_mask = pt.gt(mask_pos.sum(axis=1), 0)
    gt_idx = pt.argmax(mask_pos.astype("int8"), axis=1)  # (B, A)

    b_idx = pt.arange(n_img)[:, None]
    labels = gt_labels[b_idx, gt_idx]
    boxes = gt_boxes[b_idx, gt_idx]
    one_hot = pt.eq(labels[:, :, None], pt.arange(num_classes)[None, None, :]) & fg_mask[:, :, None]

    pos = mask_pos.astype(f32)
    pos_align = align * pos
    max_align = pos_align.max(axis=-1, keepdims=True)  # (B, M, 1)
    max_overlap = (overlaps * pos).max(axis=-1, keepdims=True)
    norm_align = (pos_align * max_overlap / (max_align + np.float32(eps))).max(axis=1)  # (B, A)
    scores = one_hot.astype(f32) * norm_align[:, :, None]
    return Assignment(labels, boxes, scores, fg_mask, gt_idx, candidates, in_topk, align, overlaps)
