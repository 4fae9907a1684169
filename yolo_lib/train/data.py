"""Where a run's data comes from, checked before anything compiles, and its fingerprint.

A :class:`DataSource` names the train and validation splits as COCO-format files (annotation
json + image folder) plus the class list. :func:`synthetic_source` writes the offline synthetic
set (its own folder per size), :func:`coco_source` points at the built COCO subset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from yolo_lib.data import SyntheticSpec, ensure_synthetic, open_cache
from yolo_lib.data.build import COCO_SPLITS, coco_root
from yolo_lib.paths import data_dir
from yolo_lib.task import CLASS_NAMES


class DataError(ValueError):
    """A dataset that is missing or unusable (one-line message)."""


@dataclass(frozen=True)
class DataSource:
    """A COCO-format train and validation split and the classes to train."""

    name: str
    train_annotations: Path
    train_images: Path
    val_annotations: Path
    val_images: Path
    class_names: tuple[str, ...] = tuple(CLASS_NAMES)

    def check(self) -> None:
        """:class:`DataError` naming the first missing file or folder."""
        for label, path, is_dir in (("train annotations", self.train_annotations, False),
                                    ("train images", self.train_images, True),
                                    ("val annotations", self.val_annotations, False),
                                    ("val images", self.val_images, True)):
            ok = Path(path).is_dir() if is_dir else Path(path).is_file()
            if not ok:
                raise DataError(f"{label} not found: {path}")

    def open(self, split: str, imgsz: int, progress: bool = True):
        """The letterboxed cache of ``split`` ("train"/"val") at ``imgsz`` (built on first use)."""
        ann = self.train_annotations if split == "train" else self.val_annotations
        images = self.train_images if split == "train" else self.val_images
        key = hashlib.sha1(str(Path(ann).resolve()).encode()).hexdigest()[:8]
        cache = data_dir() / "cache" / f"{self.name}_{split}_{imgsz}_{key}"
        return open_cache(cache, ann, images, imgsz, list(self.class_names), rebuild=True, progress=progress)

    def fingerprint(self) -> str:
        """SHA-1 of the class list and the contents of both annotation files."""
        h = hashlib.sha1(repr(tuple(self.class_names)).encode())
        for path in (self.train_annotations, self.val_annotations):
            h.update(Path(path).read_bytes())
        return h.hexdigest()


def synthetic_source(n_train: int | None = None, n_val: int | None = None, seed: int = 0,
                     progress: bool = True) -> DataSource:
    """The synthetic set (generated on first use) with ``n_train``/``n_val`` images (None = default)."""
    default = SyntheticSpec()
    spec = SyntheticSpec(n_train=n_train or default.n_train, n_val=n_val or default.n_val, seed=seed)
    root = data_dir() / f"synthetic_{spec.n_train}_{spec.n_val}_s{seed}"
    ensure_synthetic(root, spec, progress)
    return DataSource("synthetic", root / "instances_train.json", root / "train",
                      root / "instances_val.json", root / "val")


def coco_source(class_names=CLASS_NAMES) -> DataSource:
    """The COCO subset built by ``python -m yolo_lib.data build`` (not built: DataError)."""
    root = coco_root()
    paths = [root / "annotations" / f"subset_{COCO_SPLITS[s]}.json" for s in ("train", "val")]
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p} not found: build the COCO subset first with `python -m yolo_lib.data build`")
    return DataSource("coco", paths[0], root / "images" / "train2017", paths[1], root / "images" / "val2017",
                      tuple(class_names))
