"""Training augmentation on letterboxed planar ``(3, H, W)`` uint8 images, vectorised numpy (no OpenCV).

Same kinds and default strengths as Ultralytics (``default.yaml``):

* **mosaic** (p 1.0): four images (each the unpadded content of its letterbox, long side S) on a
  2S x 2S grey canvas around a random centre in [S/2, 3S/2]^2, Ultralytics' placement rules;
* **random affine**: scale ``s ~ U(1 - 0.5, 1 + 0.5)`` about the canvas centre and translation
  ``U(0.5 - 0.1, 0.5 + 0.1) * S`` (no rotation, shear or perspective: their defaults are 0),
  output S x S cropped from the canvas, grey 114 outside it;
* **HSV** gains ``1 + U(-1, 1) * (0.015, 0.7, 0.4)`` for hue, saturation, value;
* **horizontal flip** (p 0.5);
* boxes clipped to the image; remnants dropped unless width and height > 2 px, area > 10 % of
  the area before clipping and aspect ratio < 100 (Ultralytics' ``box_candidates``).

Because there is no rotation or shear the affine map is axis-aligned, hence separable: every
output row samples one canvas row and every column one canvas column (nearest neighbour, pixel
centres), so the warp is two index gathers; the flip is folded into the column index. HSV is
applied as one 3x3 colour matrix per image, fused with the uint8 -> float conversion: value is
an exact gain, saturation a blend with the luma (grey) image, hue a rotation about the grey axis
by ``dh * 180`` degrees. That is a linear approximation of OpenCV's HSV look-up tables
(identical for value; close for small hue and saturation changes), chosen for speed.

Everything is driven by a ``numpy.random.Generator``: the same seed gives the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yolo_lib.data.letterbox import PAD_VALUE

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (Ultralytics defaults) and the box-remnant filter."""

    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5
    scale: float = 0.5
    translate: float = 0.1
    mosaic: float = 1.0
    min_box_px: float = 2.0
    min_area_ratio: float = 0.1
    max_aspect: float = 100.0

    def __post_init__(self):
        for name in ("hsv_h", "hsv_s", "hsv_v", "scale", "translate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("fliplr", "mosaic"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AugmentConfig.{name} is a probability, got {getattr(self, name)}")


_EYE = np.eye(3)
_GREY = np.tile(LUMA.astype(np.float64), (3, 1))  # every row: luma weights
_ONES_THIRD = np.full((3, 3), 1 / 3)
_CROSS = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3)  # rotation generator about (1,1,1)


def colour_matrix(rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random 3x3 RGB matrix: value gain x hue rotation x saturation blend (float32)."""
    gh, gs, gv = rng.uniform(-1, 1, 3) * (cfg.hsv_h, cfg.hsv_s, cfg.hsv_v) + 1
    sat = gs * _EYE + (1 - gs) * _GREY
    theta = (gh - 1) * np.pi  # OpenCV hue spans 180 units = 360 degrees; gain 1 +- dh
    c, s = np.cos(theta), np.sin(theta)
    hue = c * _EYE + (1 - c) * _ONES_THIRD + s * _CROSS
    return (gv * (hue @ sat)).astype(np.float32)


class Workspace:
    """Reusable buffers for one thread: fresh 1 MB arrays per image cost page faults, these do not."""

    def __init__(self, size: int):
        self.canvas = np.empty((3, 2 * size, 2 * size), np.uint8)
        self.image = np.empty((3, size, size), np.uint8)
        self.floats = np.empty((3, size * size), np.float32)


def mosaic_canvas(tiles: list[np.ndarray], labels: list[tuple[np.ndarray, np.ndarray]], size: int, rng,
                  out: np.ndarray | None = None):
    """Place four ``(3, h, w)`` uint8 tiles around a random centre on a ``(3, 2S, 2S)`` grey canvas.

    ``labels[i]`` = (boxes (k, 4) xyxy in tile pixels, classes (k,)). Returns the canvas and
    the boxes/classes in canvas pixels, clipped to the canvas. ``out``: optional canvas buffer.
    """
    s2 = 2 * size
    canvas = np.empty((3, s2, s2), np.uint8) if out is None else out
    canvas.fill(PAD_VALUE)
    xc, yc = (int(v) for v in rng.uniform(size / 2, 1.5 * size, 2))
    all_boxes, all_classes = [], []
    for i, (tile, (boxes, classes)) in enumerate(zip(tiles, labels)):
        h, w = tile.shape[1:]
        if i == 0:  # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b = w - (x2a - x1a), h - (y2a - y1a)
        elif i == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, s2), yc
            x1b, y1b = 0, h - (y2a - y1a)
        elif i == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(s2, yc + h)
            x1b, y1b = w - (x2a - x1a), 0
        else:  # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, s2), min(s2, yc + h)
            x1b, y1b = 0, 0
        canvas[:, y1a:y2a, x1a:x2a] = tile[:, y1b:y1b + (y2a - y1a), x1b:x1b + (x2a - x1a)]
        if len(boxes):
            all_boxes.append(boxes + np.array([x1a - x1b, y1a - y1b] * 2, np.float32))
            all_classes.append(classes)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    classes = np.concatenate(all_classes) if all_classes else np.zeros(0, np.int32)
    np.clip(boxes, 0, s2, out=boxes)
    return canvas, boxes, classes


def _axis_index(n_out: int, n_src: int, scale: float, shift: float, flip: bool):
    """Source index of each output pixel along one axis (x_out = scale * x_src + shift).

    Returns the indices clamped into the source and the output range ``[lo, hi)`` that really
    lies inside it (outside it the caller paints the grey border).
    """
    centres = np.arange(n_out, dtype=np.float64) + 0.5
    if flip:
        centres = n_out - centres
    idx = np.floor((centres - shift) / scale).astype(np.intp)
    valid = np.flatnonzero((idx >= 0) & (idx < n_src))
    lo, hi = (int(valid[0]), int(valid[-1]) + 1) if len(valid) else (0, 0)
    np.minimum(np.maximum(idx, 0, out=idx), n_src - 1, out=idx)
    return idx, lo, hi


def random_affine(canvas: np.ndarray, boxes: np.ndarray, classes: np.ndarray, size: int, rng,
                  cfg: AugmentConfig, out: np.ndarray | None = None):
    """Scale + translate (+ flip) a ``(3, H, W)`` canvas into a ``(3, size, size)`` uint8 image; boxes too.

    The canvas centre maps to ``U(0.5 - t, 0.5 + t) * size``; the scale is ``U(1 - s, 1 + s)``.
    Returns (image, boxes (k, 4) float32 xyxy output pixels, classes (k,)) after the remnant filter;
    the image is ``out`` when given.
    """
    ch, cw = canvas.shape[1:]
    s = float(rng.uniform(1 - cfg.scale, 1 + cfg.scale))
    tx, ty = rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate, 2) * size
    flip = bool(rng.random() < cfg.fliplr)
    shift_x, shift_y = tx - s * cw / 2, ty - s * ch / 2
    rows, r0, r1 = _axis_index(size, ch, s, shift_y, False)
    cols, c0, c1 = _axis_index(size, cw, s, shift_x, flip)
    out = np.empty((3, size, size), np.uint8) if out is None else out
    # a row gather (row memcpy) then a column gather into contiguous memory; indices are clamped
    np.take(canvas.take(rows, axis=1, mode="clip"), cols, axis=2, out=out, mode="clip")
    if r1 <= r0 or c1 <= c0:
        out[...] = PAD_VALUE
    else:
        out[:, :r0], out[:, r1:], out[:, :, :c0], out[:, :, c1:] = PAD_VALUE, PAD_VALUE, PAD_VALUE, PAD_VALUE
    new = boxes * np.float32(s)
    new[:, 0::2] += np.float32(shift_x)
    new[:, 1::2] += np.float32(shift_y)
    if flip:
        new[:, [0, 2]] = size - new[:, [2, 0]]
    before = new.copy()
    np.minimum(np.maximum(new, 0, out=new), size, out=new)
    keep = box_candidates(before, new, cfg)
    return out, new[keep], classes[keep]


def box_candidates(before: np.ndarray, after: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    """Mask of boxes worth keeping: > min px wide and tall, enough area left, sane aspect ratio."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
    return ((w2 > cfg.min_box_px) & (h2 > cfg.min_box_px) & (w2 * h2 / (w1 * h1 + 1e-16) > cfg.min_area_ratio)
            & (aspect < cfg.max_aspect))


def apply_colour(image: np.ndarray, matrix: np.ndarray | None, out: np.ndarray, scratch: np.ndarray | None = None) -> None:
    """Write a ``(3, S, S)`` uint8 image into ``out`` (3, S, S): float32 in [0, 1] or uint8.

    ``matrix`` (3x3, None for identity) is the colour transform, applied before clipping;
    ``scratch`` an optional ``(3, S * S)`` float32 buffer.
    """
    if matrix is None:
        if out.dtype == np.uint8:
            out[...] = image
        else:
            np.multiply(image, np.float32(1 / 255), out=out, casting="unsafe")
        return
    x = np.empty((3, image.shape[1] * image.shape[2]), np.float32) if scratch is None else scratch
    np.copyto(x, image.reshape(3, -1), casting="unsafe")
    if out.dtype == np.uint8:
        np.matmul(matrix, x, out=x)
        np.clip(x, 0, 255, out=x)
        x += 0.5
        np.copyto(out.reshape(3, -1), x, casting="unsafe")
    else:
        flat = out.reshape(3, -1)
        np.matmul(matrix * np.float32(1 / 255), x, out=flat)
        np.clip(flat, 0.0, 1.0, out=flat)
