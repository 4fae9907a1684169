"""Box algebra of the loss on symbolic PyTensor tensors: format changes, target distances, CIoU.

The decode geometry (anchors, DFL expectation, distances to corners) is :mod:`yolo_lib.geometry`.

Boxes live on the last axis: ``xyxy`` = (x1, y1, x2, y2), ``xywh`` = (cx, cy, w, h);
distances ``ltrb`` = (left, top, right, bottom) from an anchor point. Units are whatever the
inputs use (grid cells inside the loss, pixels inside the assigner).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad

from yolo_lib.geometry import REG_MAX

CIOU_EPS = 1e-7


def split_last(x, n: int = 4):
    """The ``n`` slices ``x[..., i]`` of the last axis."""
    return [x[..., i] for i in range(n)]


def xyxy_to_dist(points, boxes, reg_max: int = REG_MAX):
    """xyxy boxes (..., A, 4) to ltrb distances from ``points`` (A, 2), clipped to [0, reg_max-1-0.01]."""
    x1, y1, x2, y2 = split_last(boxes)
    px, py = points[:, 0], points[:, 1]
    dist = pt.stack([px - x1, py - y1, x2 - px, y2 - py], axis=-1)
    return pt.clip(dist, 0.0, np.float32(reg_max - 1 - 0.01))


def xywh_to_xyxy(boxes):
    """(..., 4) centre-size to corners (same arithmetic as Ultralytics: c -/+ size/2)."""
    cx, cy, w, h = split_last(boxes)
    dw, dh = w / 2, h / 2
    return pt.stack([cx - dw, cy - dh, cx + dw, cy + dh], axis=-1)


def xyxy_to_xywh(boxes):
    """(..., 4) corners to centre-size."""
    x1, y1, x2, y2 = split_last(boxes)
    return pt.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


class CIoUTerms(NamedTuple):
    """The parts of CIoU = iou - (rho2 / c2 + v * alpha), each of the broadcast shape (...)."""

    iou: object
    rho2: object  # squared distance of the centres
    c2: object  # squared diagonal of the smallest enclosing box (+ eps)
    v: object  # aspect-ratio disagreement 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2
    alpha: object  # v / (1 - iou + v + eps), held constant (no gradient)
    ciou: object


def ciou_terms(box1, box2, eps: float = CIOU_EPS) -> CIoUTerms:
    """Complete IoU of xyxy boxes ``box1`` and ``box2`` (broadcast on leading axes, last axis 4).

    As in Ultralytics ``bbox_iou(..., CIoU=True)``: eps is added to both heights, to the union
    and to c2; ``alpha`` is wrapped in ``disconnected_grad`` so no gradient flows through it.
    Finite (value and gradient) for degenerate boxes of zero width or height; boxes must have
    x2 >= x1 and y2 >= y1.
    """
    eps = np.float32(eps)
    b1x1, b1y1, b1x2, b1y2 = split_last(box1)
    b2x1, b2y1, b2x2, b2y2 = split_last(box2)
    # heights: max(., 0) is a no-op for valid boxes, but it stops PyTensor's canonicaliser from
    # rewriting (y2 - y1) + eps into (eps + y2) - y1, where eps is lost in float32 (0/0 = NaN).
    w1, h1 = b1x2 - b1x1, pt.maximum(b1y2 - b1y1, 0.0) + eps
    w2, h2 = b2x2 - b2x1, pt.maximum(b2y2 - b2y1, 0.0) + eps
    inter = pt.maximum(pt.minimum(b1x2, b2x2) - pt.maximum(b1x1, b2x1), 0.0) * pt.maximum(
        pt.minimum(b1y2, b2y2) - pt.maximum(b1y1, b2y1), 0.0
    )
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = pt.maximum(b1x2, b2x2) - pt.minimum(b1x1, b2x1)
    ch = pt.maximum(b1y2, b2y2) - pt.minimum(b1y1, b2y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = np.float32(4 / np.pi**2) * (pt.arctan(w2 / h2) - pt.arctan(w1 / h1)) ** 2
    alpha = disconnected_grad(v / (v - iou + (1 + eps)))
    return CIoUTerms(iou, rho2, c2, v, alpha, iou - (rho2 / c2 + v * alpha))


def ciou(box1, box2, eps: float = CIOU_EPS):
    """CIoU of xyxy boxes (..., 4) -> (...); see :func:`ciou_terms`."""
    return ciou_terms(box1, box2, eps).ciou
