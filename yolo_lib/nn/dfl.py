"""Decoding the Detect head's raw outputs into the inference output (geometry: :mod:`yolo_lib.geometry`).

Functions take PyTensor variables.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from yolo_lib.geometry import REG_MAX, anchors_like, corners, dfl_distances, flatten_levels


def dist2bbox_xywh(dist, anchors):
    """Distances (B, 4, A) (l, t, r, b) and anchors (2, A) → boxes (B, 4, A) (cx, cy, w, h)."""
    x1y1, x2y2 = corners(dist, anchors)
    return pt.concatenate([(x1y1 + x2y2) / np.float32(2.0), x2y2 - x1y1], axis=1)


def decode(box_levels, cls_levels, strides: tuple[int, ...], reg_max: int = REG_MAX):
    """Raw head outputs per level → inference output (B, 4+nc, A).

    box_levels: [(B, 64, H_l, W_l)], cls_levels: [(B, nc, H_l, W_l)] for P3, P4, P5.
    Output rows: cx, cy, w, h in input pixels, then sigmoid class scores.
    """
    anchors, stride = anchors_like(box_levels, strides)
    dist = dfl_distances(flatten_levels(box_levels), reg_max)
    boxes = dist2bbox_xywh(dist, anchors) * stride[None]
    scores = pt.sigmoid(flatten_levels(cls_levels))
    return pt.concatenate([boxes, scores], axis=1)
