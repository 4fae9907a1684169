"""Pictures a run writes: results.png (curves per epoch), labels.jpg, train_batch*.jpg."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_lib.data.plots import show_boxes

CURVES = ("train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
          "metrics/mAP50(B)", "metrics/mAP50-95(B)", "lr/pg0", "lr/pg2")


def _figure(*args, **kwargs):
    import matplotlib.pyplot as plt

    return plt, plt.subplots(*args, **kwargs)


def plot_results(history: list[dict], path: str | Path) -> Path:
    """One panel per column of results.csv (missing values skipped)."""
    plt, (fig, axes) = _figure(2, 5, figsize=(15, 5.5))
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes.ravel(), CURVES):
        ys = [np.nan if r.get(key) is None else r[key] for r in history]
        ax.plot(epochs, ys, marker=".", lw=1.5)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    axes.ravel()[-1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_labels(dataset, path: str | Path) -> Path:
    """Label statistics: boxes per class, box centres, box widths/heights (letterbox pixels)."""
    plt, (fig, axes) = _figure(1, 3, figsize=(12, 4))
    names = dataset.class_names
    counts = np.bincount(dataset.classes, minlength=len(names))
    axes[0].bar(range(len(names)), counts)
    axes[0].set_xticks(range(len(names)), names)
    axes[0].set_title("boxes per class")
    b = dataset.boxes
    centres, wh = (b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]
    for ax, xy, title in ((axes[1], centres, "box centres (px)"), (axes[2], wh, "box width x height (px)")):
        ax.scatter(xy[:, 0], xy[:, 1], s=3, c=dataset.classes, cmap="tab10", alpha=0.5)
        ax.set_title(title)
    axes[1].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_batch(batch, class_names, path: str | Path, max_images: int = 16) -> Path:
    """An augmented training batch (uint8 or float images) with its boxes."""
    n = min(len(batch.images), max_images)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    plt, (fig, axes) = _figure(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        img = batch.images[k].transpose(1, 2, 0)
        keep = batch.mask[k] > 0
        show_boxes(ax, img, batch.boxes[k][keep], batch.classes[k][keep], class_names)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
