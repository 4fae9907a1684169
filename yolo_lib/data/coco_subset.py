"""Pick a class-focused subset of COCO with pycocotools and write it as a small COCO json.

Classes are chosen by COCO *name* and numbered in the order given (default ``person`` -> 0,
``cell phone`` -> 1). Crowd boxes (``iscrowd=1``) and degenerate boxes are dropped; only images
with at least one kept box are eligible. Selection (deterministic under ``seed``): every image
holding a *rare* class (any class but the most frequent one: the cell phones) first, then the
rest filled with images of the frequent class (persons), drawn at random.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo_lib.files import atomic_write_text
from yolo_lib.task import CLASS_NAMES



def load_annotations(path: str | Path):
    """A ``pycocotools.coco.COCO`` index of an instances json, with clear errors for bad files."""
    from pycocotools.coco import COCO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"annotation file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"annotation file {path} must hold a JSON object, got {type(data).__name__}")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise ValueError(f"annotation file {path} is not COCO instances format: missing keys {missing}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list):
            raise ValueError(f"annotation file {path}: '{key}' must be a list")
    _check_entries(path, data)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            coco.createIndex()
        except (KeyError, TypeError) as e:
            raise ValueError(f"annotation file {path} has a malformed entry: {e!r}") from None
    return coco


def _check_entries(path: Path, data: dict) -> None:
    """ValueError naming the first image/annotation/category entry that lacks what we read."""
    needs = {"images": ("id", "file_name", "width", "height"), "annotations": ("image_id", "category_id", "bbox"),
             "categories": ("id", "name")}
    for key, fields in needs.items():
        for i, entry in enumerate(data[key]):
            if not isinstance(entry, dict) or any(f not in entry for f in fields):
                raise ValueError(f"annotation file {path}: {key}[{i}] is malformed (needs {list(fields)}): {entry!r:.200}")
    for i, ann in enumerate(data["annotations"]):
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"annotation file {path}: annotations[{i}] (id {ann.get('id')}) has a malformed bbox {bbox!r}")
    for i, img in enumerate(data["images"]):
        if not (isinstance(img["width"], int) and isinstance(img["height"], int) and img["width"] > 0 and img["height"] > 0):
            raise ValueError(f"annotation file {path}: images[{i}] (id {img['id']}) has an invalid size "
                             f"{img['width']!r}x{img['height']!r}")


def resolve_categories(coco, class_names) -> list[int]:
    """COCO category ids for ``class_names`` (in that order); ValueError naming unknown ones."""
    names = list(class_names)
    if not names:
        raise ValueError("class list is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"class list has duplicates: {names}")
    by_name = {c["name"]: c["id"] for c in coco.dataset["categories"]}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown COCO category name(s) {unknown}; available: {sorted(by_name)}")
    return [by_name[n] for n in names]


@dataclass
class ImageLabels:
    """Kept boxes of one image: ``boxes (K, 4)`` float32 xyxy original pixels, ``classes (K,)`` int32."""

    boxes: np.ndarray
    classes: np.ndarray
    dropped_crowd: int = 0
    dropped_degenerate: int = 0


def image_labels(coco, image_id: int, cat_ids: list[int]) -> ImageLabels:
    """The non-crowd boxes of ``cat_ids`` in one image, clipped to it, as class indices 0..C-1."""
    info = coco.imgs[image_id]
    w, h = float(info["width"]), float(info["height"])
    index = {cid: i for i, cid in enumerate(cat_ids)}
    boxes, classes, crowd, degenerate = [], [], 0, 0
    for ann in coco.imgToAnns.get(image_id, []):
        if ann.get("category_id") not in index:
            continue
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        x, y, bw, bh = (float(v) for v in ann["bbox"])
        x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)
        if x2 - x1 < 1.0 or y2 - y1 < 1.0:
            degenerate += 1
            continue
        boxes.append((x1, y1, x2, y2))
        classes.append(index[ann["category_id"]])
    return ImageLabels(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int32), crowd, degenerate)


@dataclass
class Selection:
    """The chosen images and what was counted on the way."""

    image_ids: list[int]
    class_names: list[str]
    boxes_per_class: dict[str, int]
    eligible_images: int
    dropped_crowd: int
    dropped_degenerate: int

    def summary(self) -> dict:
        return {
            "images": len(self.image_ids),
            "eligible_images": self.eligible_images,
            "boxes_per_class": self.boxes_per_class,
            "dropped_crowd_boxes": self.dropped_crowd,
            "dropped_degenerate_boxes": self.dropped_degenerate,
        }


def select_images(coco, class_names=CLASS_NAMES, n_images: int | None = None, seed: int = 0) -> Selection:
    """Choose up to ``n_images`` images (None = all eligible): rare-class images first, then the rest.

    Deterministic for a given annotation file, class list, count and seed. The result is sorted
    by image id.
    """
    if n_images is not None and n_images <= 0:
        raise ValueError(f"n_images must be positive or None, got {n_images}")
    names = list(class_names)
    cat_ids = resolve_categories(coco, names)
    labels = {iid: image_labels(coco, iid, cat_ids) for iid in sorted(coco.imgs)}
    eligible = [iid for iid, lab in labels.items() if len(lab.classes)]
    counts = np.zeros(len(names), np.int64)
    for iid in eligible:
        counts += np.bincount(labels[iid].classes, minlength=len(names)) > 0
    frequent = int(np.argmax(counts)) if len(names) > 1 else -1
    rare = [iid for iid in eligible if np.any(labels[iid].classes != frequent)]
    common = [iid for iid in eligible if np.all(labels[iid].classes == frequent)]
    rng = np.random.default_rng(seed)
    rare = [rare[i] for i in rng.permutation(len(rare))]
    common = [common[i] for i in rng.permutation(len(common))]
    chosen = (rare + common) if n_images is None else (rare + common)[:n_images]
    chosen.sort()
    per_class = np.zeros(len(names), np.int64)
    for iid in chosen:
        per_class += np.bincount(labels[iid].classes, minlength=len(names))
    return Selection(
        image_ids=chosen,
        class_names=names,
        boxes_per_class={n: int(c) for n, c in zip(names, per_class)},
        eligible_images=len(eligible),
        dropped_crowd=int(sum(labels[i].dropped_crowd for i in chosen)),
        dropped_degenerate=int(sum(labels[i].dropped_degenerate for i in chosen)),
    )


def write_subset_json(coco, selection: Selection, path: str | Path) -> Path:
    """Write the selection as COCO instances json: chosen images, their non-crowd boxes of the classes.

    Category ids stay the original COCO ids, so the file is a valid COCO subset.
    """
    cat_ids = resolve_categories(coco, selection.class_names)
    keep = set(selection.image_ids)
    anns = [
        a for iid in selection.image_ids for a in coco.imgToAnns.get(iid, [])
        if a.get("category_id") in cat_ids and not a.get("iscrowd", 0)
    ]
    data = {
        "info": {**coco.dataset.get("info", {}), "subset_classes": selection.class_names},
        "licenses": coco.dataset.get("licenses", []),
        "categories": [c for c in coco.dataset["categories"] if c["id"] in cat_ids],
        "images": [coco.imgs[i] for i in sorted(keep)],
        "annotations": [{k: v for k, v in a.items() if k != "segmentation"} for a in anns],
    }
    return atomic_write_text(path, json.dumps(data))
