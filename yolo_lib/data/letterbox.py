"""Letterbox: resize keeping the aspect ratio, centre on an S x S canvas padded with grey 114.

The same transform is used for training, evaluation and deployment (a mismatch between them
shifts every predicted box). Boxes are ``(K, 4)`` float32 ``x1, y1, x2, y2`` in pixels.

The image is resized to ``new_w x new_h = round(w * r) x round(h * r)`` with
``r = min(S / h, S / w)`` and pasted at ``(left, top)``, the padding split in the middle as
Ultralytics does (``top = round(dh - 0.1)``, ``left = round(dw - 0.1)``). The box transform uses
the *actual* per-axis resize factors ``new_w / w`` and ``new_h / h`` (not ``r``), so a box
follows the pixels it covered exactly; :func:`boxes_from_letterbox` is its exact inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from yolo_lib.task import IMGSZ

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxParams:
    """Where an original ``width x height`` image sits inside the ``size x size`` letterbox."""

    size: int
    width: int
    height: int
    new_w: int
    new_h: int
    left: int
    top: int

    @property
    def scale_x(self) -> float:
        return self.new_w / self.width

    @property
    def scale_y(self) -> float:
        return self.new_h / self.height

    @property
    def content(self) -> tuple[int, int, int, int]:
        """The image region inside the letterbox: ``(x1, y1, x2, y2)`` in letterbox pixels."""
        return self.left, self.top, self.left + self.new_w, self.top + self.new_h


def letterbox_params(width: int, height: int, size: int = IMGSZ) -> LetterboxParams:
    """The letterbox geometry for an image of ``width x height`` pixels."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if size <= 0:
        raise ValueError(f"letterbox size must be positive, got {size}")
    r = min(size / height, size / width)
    new_w = max(1, min(size, int(round(width * r))))
    new_h = max(1, min(size, int(round(height * r))))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    left, top = int(round(dw - 0.1)), int(round(dh - 0.1))
    return LetterboxParams(size, width, height, new_w, new_h, max(left, 0), max(top, 0))


def letterbox_image(image: np.ndarray | Image.Image, size: int = IMGSZ) -> tuple[np.ndarray, LetterboxParams]:
    """Letterbox an RGB image (PIL image or ``(H, W, 3)`` uint8) -> ``(size, size, 3)`` uint8, params.

    Resizing is bilinear (Pillow).
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(_as_rgb_uint8(image))
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    params = letterbox_params(pil.width, pil.height, size)
    return paste_letterboxed(pil, params), params


def paste_letterboxed(pil: Image.Image, params: LetterboxParams) -> np.ndarray:
    """Resize an RGB PIL image to the params' content size and paste it on the grey canvas."""
    if pil.size != (params.new_w, params.new_h):
        pil = pil.resize((params.new_w, params.new_h), Image.BILINEAR)
    out = np.full((params.size, params.size, 3), PAD_VALUE, np.uint8)
    x1, y1, x2, y2 = params.content
    out[y1:y2, x1:x2] = np.asarray(pil, np.uint8)
    return out


def boxes_to_letterbox(boxes: np.ndarray, params: LetterboxParams) -> np.ndarray:
    """Original-image xyxy boxes ``(K, 4)`` -> letterbox pixels ``(K, 4)`` float32."""
    b = _as_boxes(boxes)
    out = np.empty_like(b)
    out[:, 0::2] = b[:, 0::2] * params.scale_x + params.left
    out[:, 1::2] = b[:, 1::2] * params.scale_y + params.top
    return out


def boxes_from_letterbox(boxes: np.ndarray, params: LetterboxParams, clip: bool = True) -> np.ndarray:
    """Letterbox xyxy boxes ``(K, 4)`` (e.g. predictions) -> original-image pixels, float32.

    With ``clip`` the result is clipped to the original image (predictions may reach into the
    padding).
    """
    b = _as_boxes(boxes)
    out = np.empty_like(b)
    out[:, 0::2] = (b[:, 0::2] - params.left) / params.scale_x
    out[:, 1::2] = (b[:, 1::2] - params.top) / params.scale_y
    if clip:
        np.clip(out[:, 0::2], 0, params.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, params.height, out=out[:, 1::2])
    return out


def _as_boxes(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (K, 4) as x1, y1, x2, y2, got {b.shape}")
    return b


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {a.dtype}")
    return a
