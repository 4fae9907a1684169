"""Anchor points and strides of the three detection levels (P3, P4, P5) for any image size.

An anchor is the centre of one grid cell, ``(x + 0.5, y + 0.5)`` in grid units of its level.
Levels are concatenated P3, P4, P5, each row-major (y outer, x inner), which is the order of the
head's flattened outputs and of Ultralytics' ``make_anchors``.
"""

from __future__ import annotations

import numpy as np

DEFAULT_STRIDES = (8, 16, 32)


def grid_shapes(image_hw: tuple[int, int], strides=DEFAULT_STRIDES) -> list[tuple[int, int]]:
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
    strides=DEFAULT_STRIDES,
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


def _check_hw(image_hw) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in image_hw)
    except (TypeError, ValueError):
        raise TypeError(f"image_hw must be a pair of ints (height, width), got {image_hw!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"image_hw must be positive, got {(h, w)}")
    return h, w
