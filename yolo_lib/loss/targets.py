"""Ground truth as padded dense arrays: one fixed-size slab per batch, ready for a compiled step.

A batch of images has a varying number of boxes each; the compiled training step needs fixed
shapes, so boxes are packed into ``max_boxes`` slots per image with a validity mask:

* ``boxes``   (B, M, 4) float32: (cx, cy, w, h) normalised to [0, 1] by the image width/height;
* ``classes`` (B, M)    int32: class index, 0 in empty slots;
* ``mask``    (B, M)    bool: the slot holds a real box.

Empty slots are all zeros. Images without boxes are fine (all slots empty). Boxes of zero width or
height are kept (Ultralytics keeps them too); the loss stays finite on them. More boxes in one
image than ``max_boxes`` raises ValueError, unless ``truncate=True``: then the first
``max_boxes`` boxes of that image are kept and the number dropped is counted in ``n_dropped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class DenseTargets:
    """Padded per-image ground truth (see module docstring for shapes)."""

    boxes: np.ndarray
    classes: np.ndarray
    mask: np.ndarray
    n_dropped: int = 0

    @property
    def batch_size(self) -> int:
        return self.boxes.shape[0]

    @property
    def max_boxes(self) -> int:
        return self.boxes.shape[1]

    def as_inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, classes, mask) in the order of :func:`yolo_lib.loss.detection_loss.target_variables`."""
        return self.boxes, self.classes, self.mask


def from_image_lists(
    boxes: Sequence[np.ndarray],
    classes: Sequence[np.ndarray],
    max_boxes: int | None = None,
    num_classes: int | None = None,
    truncate: bool = False,
) -> DenseTargets:
    """Pack per-image lists: ``boxes[i]`` (n_i, 4) normalised xywh, ``classes[i]`` (n_i,) ints.

    ``max_boxes`` None means the largest n_i of this batch (at least 1). ``num_classes`` (if given)
    checks every class index is in [0, num_classes).
    """
    if len(boxes) != len(classes):
        raise ValueError(f"{len(boxes)} box arrays but {len(classes)} class arrays: one of each per image")
    per_image = [_check_image(i, b, c, num_classes) for i, (b, c) in enumerate(zip(boxes, classes))]
    counts = [len(c) for _, c in per_image]
    if max_boxes is None:
        max_boxes = max([1, *counts])
    if not isinstance(max_boxes, (int, np.integer)) or max_boxes < 1:
        raise ValueError(f"max_boxes must be a positive int, got {max_boxes!r}")
    over = [(i, n) for i, n in enumerate(counts) if n > max_boxes]
    if over and not truncate:
        detail = ", ".join(f"image {i}: {n}" for i, n in over[:5])
        raise ValueError(
            f"more boxes than max_boxes={max_boxes} ({detail}); raise max_boxes or pass truncate=True "
            "to keep the first max_boxes boxes of each image and count the rest in n_dropped"
        )
    n_img = len(per_image)
    out_boxes = np.zeros((n_img, max_boxes, 4), np.float32)
    out_classes = np.zeros((n_img, max_boxes), np.int32)
    out_mask = np.zeros((n_img, max_boxes), bool)
    for i, (b, c) in enumerate(per_image):
        n = min(len(c), max_boxes)
        out_boxes[i, :n], out_classes[i, :n], out_mask[i, :n] = b[:n], c[:n], True
    return DenseTargets(out_boxes, out_classes, out_mask, sum(n - max_boxes for _, n in over))


def from_rows(
    rows: np.ndarray,
    batch_size: int,
    max_boxes: int | None = None,
    num_classes: int | None = None,
    truncate: bool = False,
) -> DenseTargets:
    """Pack Ultralytics-style rows (N, 6) ``[batch_idx, class, cx, cy, w, h]`` (normalised boxes).

    Rows of one image keep their order; ``batch_idx`` must be an integer in [0, batch_size).
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 6:
        raise ValueError(f"rows must have shape (N, 6) [batch_idx, class, cx, cy, w, h], got {rows.shape}")
    bidx = rows[:, 0]
    if not np.all(np.isfinite(bidx)) or np.any(bidx != np.round(bidx)) or np.any((bidx < 0) | (bidx >= batch_size)):
        raise ValueError(f"batch_idx must be integers in [0, {batch_size}), got {np.unique(bidx)}")
    bidx = bidx.astype(int)
    boxes = [rows[bidx == i, 2:6] for i in range(batch_size)]
    classes = [rows[bidx == i, 1] for i in range(batch_size)]
    return from_image_lists(boxes, classes, max_boxes, num_classes, truncate)


def _check_image(i, boxes, classes, num_classes):
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"image {i}: boxes must have shape (n, 4) normalised xywh, got {np.shape(boxes)}")
    c = np.asarray(classes, dtype=np.float64).reshape(-1)
    if len(b) != len(c):
        raise ValueError(f"image {i}: {len(b)} boxes but {len(c)} classes")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"image {i}: boxes contain NaN or inf")
    if np.any(b[:, 2:] < 0):
        raise ValueError(f"image {i}: negative box width or height")
    if np.any(c != np.round(c)) or np.any(c < 0) or (num_classes is not None and np.any(c >= num_classes)):
        limit = f"[0, {num_classes})" if num_classes is not None else "non-negative integers"
        raise ValueError(f"image {i}: class indices must be {limit}, got {np.unique(c)}")
    return b.astype(np.float32), c.astype(np.int32)
