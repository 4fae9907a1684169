"""Decoding the Detect head: anchor grid, DFL expectation and distance → box conversion.

Ultralytics' conventions (the inference output is compared against them exactly):

* anchors are grid-cell centres (x + 0.5, y + 0.5) in grid units; levels P3, P4, P5 are
  concatenated, each row-major (y outer, x inner); A = sum of H_l * W_l (2100 at 320x320);
* box logits (B, 64, A) are read as (B, 4, 16, A): channel = side * 16 + bin, sides
  (left, top, right, bottom); softmax over the 16 bins, expectation with bins 0..15 gives
  the distances in grid units (the frozen DFL conv ``arange(16)``);
* box = (anchor - lt, anchor + rb), returned as (cx, cy, w, h) times the level stride (pixels).

The softmax runs over the LAST axis (an exported graph needs that for WebGPU).
Functions take PyTensor variables unless their name says ``_np``.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import softmax

from yolo_lib.nn.module import dims

REG_MAX = 16


def make_anchors_np(sizes: list[tuple[int, int]], strides: tuple[int, ...], offset: float = 0.5):
    """Anchor centres and strides for feature maps of the given (H, W) sizes, numpy.

    Returns ``anchors`` (A, 2) float32 as (x, y) in grid units of each level, and
    ``stride`` (A,) float32 in pixels; order P3, P4, P5, each row-major.
    """
    if len(sizes) != len(strides):
        raise ValueError(f"{len(sizes)} feature sizes but {len(strides)} strides")
    points, levels = [], []
    for (h, w), s in zip(sizes, strides):
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32) + offset,
                             np.arange(w, dtype=np.float32) + offset, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        levels.append(np.full(h * w, s, dtype=np.float32))
    return np.concatenate(points).astype(np.float32), np.concatenate(levels).astype(np.float32)


def make_anchors(feature_maps, strides: tuple[int, ...], offset: float = 0.5):
    """Anchors (2, A) (rows x, y, grid units) and strides (1, A) for symbolic feature maps.

    When every feature map has a static H and W the result is a numpy constant (what an
    exported graph wants); otherwise it is built symbolically from the runtime shapes.
    """
    sizes = [fm.type.shape[2:] for fm in feature_maps]
    if all(h is not None and w is not None for h, w in sizes):
        anchors, stride = make_anchors_np(sizes, strides, offset)
        return pt.constant(anchors.T.copy()), pt.constant(stride[None, :])
    xs_all, ys_all, st_all = [], [], []
    for fm, s in zip(feature_maps, strides):
        h, w = fm.shape[2], fm.shape[3]
        xs = pt.arange(w, dtype="float32") + np.float32(offset)
        ys = pt.arange(h, dtype="float32") + np.float32(offset)
        zeros = pt.zeros((h, w), dtype="float32")
        xs_all.append((zeros + xs[None, :]).ravel())  # row-major: y outer, x inner
        ys_all.append((zeros + ys[:, None]).ravel())
        st_all.append((zeros + np.float32(s)).ravel())
    anchors = pt.stack([pt.concatenate(xs_all), pt.concatenate(ys_all)])
    return anchors, pt.concatenate(st_all)[None, :]


def flatten_levels(levels):
    """Per-level maps (B, C, H_l, W_l) → (B, C, A), levels concatenated, row-major each."""
    flat = []
    for x in levels:
        b, c, h, w = dims(x)
        flat.append(x.reshape((b, c, h * w)))
    return pt.concatenate(flat, axis=2)


def dfl_distances(box, reg_max: int = REG_MAX):
    """Box logits (B, 4*reg_max, A) → expected distances (B, 4, A) in grid units (l, t, r, b).

    Softmax over the bins on the last axis, then the expectation as a matmul with 0..reg_max-1.
    """
    b, _, a = dims(box)
    p = softmax(box.reshape((b, 4, reg_max, a)).transpose(0, 1, 3, 2), axis=-1)  # (B, 4, A, 16)
    bins = pt.constant(np.arange(reg_max, dtype=np.float32).reshape(reg_max, 1))
    return pt.matmul(p, bins).reshape((b, 4, a))


def dist2bbox_xywh(dist, anchors):
    """Distances (B, 4, A) (l, t, r, b) and anchors (2, A) → boxes (B, 4, A) (cx, cy, w, h)."""
    lt, rb = dist[:, :2], dist[:, 2:]
    x1y1 = anchors[None] - lt
    x2y2 = anchors[None] + rb
    return pt.concatenate([(x1y1 + x2y2) / np.float32(2.0), x2y2 - x1y1], axis=1)


def decode(box_levels, cls_levels, strides: tuple[int, ...], reg_max: int = REG_MAX):
    """Raw head outputs per level → inference output (B, 4+nc, A).

    box_levels: [(B, 64, H_l, W_l)], cls_levels: [(B, nc, H_l, W_l)] for P3, P4, P5.
    Output rows: cx, cy, w, h in input pixels, then sigmoid class scores.
    """
    anchors, stride = make_anchors(box_levels, strides)
    dist = dfl_distances(flatten_levels(box_levels), reg_max)
    boxes = dist2bbox_xywh(dist, anchors) * stride[None]
    scores = pt.sigmoid(flatten_levels(cls_levels))
    return pt.concatenate([boxes, scores], axis=1)
