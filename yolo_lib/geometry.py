"""The detection geometry shared by the head's decode, the loss and the exporter.

Ultralytics' conventions (the inference output and the loss are compared against them exactly):

* three levels P3, P4, P5 with :data:`STRIDES` (8, 16, 32) pixels; a level of stride s has a grid
  of ceil(H / s) x ceil(W / s) cells (:func:`grid_shapes`);
* an anchor is a grid-cell centre (x + 0.5, y + 0.5) in grid units of its level; levels are
  concatenated P3, P4, P5, each row-major (y outer, x inner); A = sum of H_l * W_l (2100 at 320);
* box logits per anchor are 4 * :data:`REG_MAX` channels, channel = side * 16 + bin, sides
  (left, top, right, bottom); softmax over the bins and the expectation with bins 0..15 give the
  distances in grid units (the frozen DFL conv ``arange(16)``);
* box corners = (anchor - (l, t), anchor + (r, b)); times the level stride = pixels.

ONE layout for symbolic tensors: channels before anchors, (B, C, A), as the head's maps
flattened (:func:`flatten_levels`). The loss, which works per anchor (B, A, C), transposes once.
The DFL softmax runs over the LAST axis (an exported graph needs that for WebGPU).
Numpy anchors are (A, 2) points and (A, 1) strides; :func:`anchors_like` gives the symbolic
(2, A) and (1, A) transposes.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.special import softmax

REG_MAX = 16  # bins of the distance distribution per side
STRIDES = (8, 16, 32)  # pixels per grid cell of P3, P4, P5


def dims(x) -> tuple:
    """Shape of a symbolic tensor: static ints where the type knows them, else symbolic scalars.

    Reshape targets built from it are constants whenever the input shape is static, so compiled
    graphs need no shape arithmetic (cheaper rewriting, and JAX needs concrete shapes).
    """
    return tuple(s if s is not None else x.shape[i] for i, s in enumerate(x.type.shape))


def grid_shapes(image_hw: tuple[int, int], strides=STRIDES) -> list[tuple[int, int]]:
    """Feature-grid (H, W) of each level for an input of ``image_hw`` = (height, width) pixels.

    Every stride-2 3x3 convolution with padding 1 maps n to ceil(n / 2), so a level of stride s has
    ceil(H / s) rows (exact halving chain, also for sizes that are not multiples of 32).
    """
    h, w = _check_hw(image_hw)
    shapes = []
    for s in strides:
        if s <= 0 or (s & (s - 1)) != 0:
            raise ValueError(f"strides must be positive powers of two, got {tuple(strides)}")
        gh, gw = h, w
        for _ in range(int(np.log2(s))):
            gh, gw = -(-gh // 2), -(-gw // 2)
        shapes.append((gh, gw))
    return shapes


def make_anchors(
    image_hw: tuple[int, int] | None = None,
    strides=STRIDES,
    *,
    shapes: list[tuple[int, int]] | None = None,
    offset: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres and strides, float32 numpy constants.

    Give either ``image_hw`` (pixels) or the per-level grid ``shapes`` [(H, W), ...].
    Returns ``points`` (A, 2) as (x, y) in grid units of each anchor's own level, and
    ``stride`` (A, 1) in pixels; ``points * stride`` are the centres in input pixels.
    """
    if (image_hw is None) == (shapes is None):
        raise ValueError("give exactly one of image_hw or shapes")
    if shapes is None:
        shapes = grid_shapes(image_hw, strides)
    if len(shapes) != len(strides):
        raise ValueError(f"{len(shapes)} grid shapes for {len(strides)} strides")
    points, stride_col = [], []
    for (gh, gw), s in zip(shapes, strides):
        ys, xs = np.meshgrid(np.arange(gh, dtype=np.float32), np.arange(gw, dtype=np.float32), indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()], axis=1) + np.float32(offset))
        stride_col.append(np.full((gh * gw, 1), s, dtype=np.float32))
    return np.concatenate(points).astype(np.float32), np.concatenate(stride_col).astype(np.float32)


def anchors_like(feature_maps, strides=STRIDES, offset: float = 0.5):
    """Anchors (2, A) (rows x, y, grid units) and strides (1, A) for symbolic maps (B, C, H_l, W_l).

    When every map has a static H and W the result is the transpose of :func:`make_anchors` as a
    constant (what an exported graph wants); otherwise it is built from the runtime shapes.
    """
    sizes = [fm.type.shape[2:] for fm in feature_maps]
    if all(h is not None and w is not None for h, w in sizes):
        points, stride = make_anchors(shapes=sizes, strides=strides, offset=offset)
        return pt.constant(points.T.copy()), pt.constant(stride.T.copy())
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
    """Per-level maps [(B, C, H_l, W_l)] → (B, C, A), levels concatenated, row-major each."""
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


def corners(dist, anchors):
    """Distances (B, 4, A) (l, t, r, b) from anchors (2, A) → corners ((B, 2, A) x1y1, (B, 2, A) x2y2)."""
    return anchors[None] - dist[:, :2], anchors[None] + dist[:, 2:]


def _check_hw(image_hw) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in image_hw)
    except (TypeError, ValueError):
        raise TypeError(f"image_hw must be a pair of ints (height, width), got {image_hw!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"image_hw must be positive, got {(h, w)}")
    return h, w
