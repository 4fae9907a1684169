"""Pictures of an evaluation (matplotlib figures drawn off screen, without pyplot: a notebook's
backend and figures are left alone): boxes on images, PR curves, confusion matrix.

* ``boxes.png``: a grid of up to 8 images, labelled boxes (top row, green; crowd boxes dashed)
  above predicted boxes with score >= 0.25 (bottom row, red, with class and score).
* ``pr_curves.png``: COCOeval's IoU-0.5 precision-recall curve of every class, and their mean.
* ``confusion_matrix.png``: predictions with score >= 0.25 matched greedily (IoU >= 0.45,
  same as Ultralytics' plot) to non-crowd boxes; the extra row/column is "background"
  (a missed box / a false detection). Columns (true class) are normalised to sum to 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_lib.evaluate.classes import ClassMatch
from yolo_lib.postprocess import box_iou

PLOT_CONF, MATRIX_IOU, GRID_IMAGES = 0.25, 0.45, 8


def _xyxy(bbox) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def write_pictures(out: Path, state: dict, folder: Path, classes: ClassMatch) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    names = {c: n for _, n, c in classes.matched}
    return [_boxes_grid(out / "boxes.png", state, folder, names),
            _pr_curves(out / "pr_curves.png", state, names),
            _confusion(out / "confusion_matrix.png", state, names)]


def _by_image(items) -> dict[int, list[dict]]:
    d: dict[int, list[dict]] = {}
    for a in items:
        d.setdefault(a["image_id"], []).append(a)
    return d


def _boxes_grid(path: Path, state, folder: Path, names) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from PIL import Image

    images = state["gt"]["images"][:GRID_IMAGES]
    gts, dets = _by_image(state["gt"]["annotations"]), _by_image(state["results"])
    fig = Figure(figsize=(3 * len(images), 6))
    axes = fig.subplots(2, len(images), squeeze=False)
    for j, rec in enumerate(images):
        with Image.open(folder / rec["file_name"]) as im:
            pixels = np.asarray(im.convert("RGB"))
        for row, (title, anns, colour) in enumerate((
                ("labelled", [a for a in gts.get(rec["id"], []) if a["category_id"] in names], "lime"),
                ("predicted", [d for d in dets.get(rec["id"], []) if d["score"] >= PLOT_CONF], "red"))):
            ax = axes[row, j]
            ax.imshow(pixels)
            ax.set_axis_off()
            ax.set_title(f"{title} ({len(anns)})", fontsize=8)
            for a in anns:
                x, y, w, h = a["bbox"]
                ax.add_patch(Rectangle((x, y), w, h, fill=False, color=colour, lw=1,
                                       ls="--" if a.get("iscrowd") else "-"))
                label = names[a["category_id"]] + (f" {a['score']:.2f}" if "score" in a else "")
                ax.text(x, y, label, color="white", fontsize=5, va="bottom",
                        bbox={"facecolor": colour, "alpha": 0.6, "pad": 0.5, "lw": 0})
    fig.suptitle(f"labelled (top) vs predicted score >= {PLOT_CONF} (bottom)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _pr_curves(path: Path, state, names) -> Path:
    from matplotlib.figure import Figure

    curves = state["scores"].pr_curves
    recall = np.linspace(0, 1, 101)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    few = len(curves) <= 10
    for cat, p in curves.items():
        ap = state["scores"].per_class[cat]["AP50"]
        ax.plot(recall, p, lw=1, alpha=1 if few else 0.3, color=None if few else "grey",
                label=f"{names[cat]} AP50 {ap:.3f}" if few and ap is not None else None)
    if curves:
        mean = np.nanmean(np.stack(list(curves.values())), 0) if any(np.isfinite(p).any() for p in curves.values()) else None
        if mean is not None:
            ax.plot(recall, mean, lw=2.5, color="C0" if not few else "black",
                    label=f"all classes mAP50 {state['summary']['mAP50'] or 0:.3f}")
    ax.set(xlabel="recall", ylabel="precision (interpolated)", xlim=(0, 1), ylim=(0, 1.02),
           title="precision-recall at IoU 0.5 (COCOeval, 101 points)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def confusion_matrix(state, names) -> np.ndarray:
    """(K+1, K+1) counts, rows = predicted class, columns = true class; index K = background."""
    cats = list(names)
    index = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    m = np.zeros((k + 1, k + 1), np.int64)
    gts, dets = _by_image(state["gt"]["annotations"]), _by_image(state["results"])
    for rec in state["gt"]["images"]:
        g = [a for a in gts.get(rec["id"], []) if a["category_id"] in index and not a.get("iscrowd")]
        d = [x for x in dets.get(rec["id"], []) if x["score"] >= PLOT_CONF]
        used_g, used_d = set(), set()
        if g and d:
            iou = box_iou(np.array([_xyxy(x["bbox"]) for x in d], np.float32),
                          np.array([_xyxy(a["bbox"]) for a in g], np.float32))
            for di, gi in sorted(zip(*np.nonzero(iou >= MATRIX_IOU)), key=lambda p: -iou[p]):
                if di in used_d or gi in used_g:
                    continue
                used_d.add(di)
                used_g.add(gi)
                m[index[d[di]["category_id"]], index[g[gi]["category_id"]]] += 1
        for gi, a in enumerate(g):
            if gi not in used_g:
                m[k, index[a["category_id"]]] += 1
        for di, x in enumerate(d):
            if di not in used_d:
                m[index[x["category_id"]], k] += 1
    return m


def _confusion(path: Path, state, names) -> Path:
    from matplotlib.figure import Figure

    m = confusion_matrix(state, names)
    labels = [names[c] for c in names] + ["background"]
    norm = m / np.maximum(m.sum(0, keepdims=True), 1)
    size = max(4.0, 0.25 * len(labels) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6 if len(labels) > 12 else 8)
    ax.set_yticks(range(len(labels)), labels, fontsize=6 if len(labels) > 12 else 8)
    if len(labels) <= 12:
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="true", ylabel="predicted",
           title=f"confusion matrix (score >= {PLOT_CONF}, IoU >= {MATRIX_IOU}), columns normalised")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
