"""The COCO photographs shipped with the repository (``yolo_lib/data/photos``).

Seven real COCO train2017 images with their COCO annotations of person and cell phone: what the
notebooks use for statistics, assignments and detections on real photographs, on any clone.
Each image keeps its own Creative Commons licence (``README.md`` in that folder; not the
project's MIT licence); :func:`credit` gives it in one line. Made by
``scripts/make_coco_photos.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from yolo_lib.data.cache import CachedDataset, open_cache
from yolo_lib.data.coco_subset import image_labels, load_annotations, resolve_categories
from yolo_lib.paths import data_dir
from yolo_lib.task import CLASS_NAMES

PHOTOS_DIR = Path(__file__).resolve().parent / "photos"
ANNOTATIONS = PHOTOS_DIR / "instances.json"
IMAGES = PHOTOS_DIR / "images"
#: the one photograph that shows both classes (three people on the phone)
PHONES = "000000000536.jpg"


@dataclass
class Photo:
    """One photograph: ``image`` (H, W, 3) uint8 RGB, its non-crowd ``boxes`` (K, 4) float32 xyxy
    in pixels with ``classes`` (K,) int32 (0 person, 1 cell phone), and its COCO image record."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    info: dict

    @property
    def credit(self) -> str:
        return credit(self.info)


@lru_cache(maxsize=1)
def _index():
    return load_annotations(ANNOTATIONS)


def file_names() -> list[str]:
    """The photographs' file names, in the order of ``instances.json``."""
    return [im["file_name"] for im in json.loads(ANNOTATIONS.read_text())["images"]]


def photo(file_name: str = PHONES) -> Photo:
    """A photograph with its annotations (see :class:`Photo`)."""
    coco = _index()
    matches = [i for i, im in coco.imgs.items() if im["file_name"] == file_name]
    if not matches:
        raise FileNotFoundError(f"no photograph {file_name!r} in {ANNOTATIONS} (have: {', '.join(file_names())})")
    info = coco.imgs[matches[0]]
    labels = image_labels(coco, info["id"], resolve_categories(coco, CLASS_NAMES))
    with Image.open(IMAGES / file_name) as pil:
        image = np.asarray(pil.convert("RGB"))
    return Photo(image, labels.boxes, labels.classes, info)


def credit(info: dict) -> str:
    """``file: licence name (licence URL), flickr_url`` of one COCO image record."""
    return f"{info['file_name']}: {info['license_name']} ({info['license_url']}), {info['flickr_url']}"


def open_photos(size: int, progress: bool = False) -> CachedDataset:
    """All the photographs letterboxed to ``size`` (a cache under ``data_dir()/cache``, built on first use)."""
    return open_cache(data_dir() / "cache" / f"coco_photos_{size}", ANNOTATIONS, IMAGES, size, progress=progress)
