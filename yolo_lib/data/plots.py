"""Matplotlib helpers for the data notebook: images with their boxes, box statistics."""

from __future__ import annotations

import numpy as np

CLASS_COLOURS = ("tab:orange", "tab:cyan", "tab:green", "tab:red", "tab:purple", "tab:olive")


def show_boxes(ax, image_hwc: np.ndarray, boxes: np.ndarray, classes: np.ndarray, names=None, title: str = ""):
    """Draw an ``(H, W, 3)`` image (uint8, or float in [0, 1]) with xyxy pixel boxes on ``ax``."""
    from matplotlib.patches import Rectangle

    ax.imshow(image_hwc)
    for (x1, y1, x2, y2), c in zip(np.asarray(boxes), np.asarray(classes)):
        colour = CLASS_COLOURS[int(c) % len(CLASS_COLOURS)]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=colour))
        if names is not None:
            ax.text(x1, y1, names[int(c)], color="white", fontsize=6, va="bottom",
                    bbox=dict(facecolor=colour, lw=0, pad=0.5, alpha=0.8))
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def box_table(dataset) -> dict[str, np.ndarray]:
    """Per-box widths/heights (letterbox pixels), classes, and boxes per image of a CachedDataset."""
    wh = dataset.boxes[:, 2:] - dataset.boxes[:, :2]
    return {"w": wh[:, 0], "h": wh[:, 1], "classes": dataset.classes, "per_image": np.diff(dataset.offsets)}
