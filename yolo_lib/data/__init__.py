"""Data for YOLO11n: COCO subset, download, letterbox, cache, augmentation, batches, synthetic set.

Typical use (the synthetic set is generated on first use, everything lands under ``data_dir()``)::

    from yolo_lib.data import open_dataset, BatchLoader, AugmentConfig
    train = open_dataset("synthetic", "train", size=320)        # or "coco" after `build`
    loader = BatchLoader(train, batch_size=64, augment=AugmentConfig(), epochs=60, close_mosaic=10)
    for batch in loader.epoch(0):
        batch.images, batch.boxes, batch.classes, batch.mask   # see yolo_lib.data.loader

Command line: ``python -m yolo_lib.data --help``.
"""

from yolo_lib.data.augment import AugmentConfig
from yolo_lib.data.build import build_coco_subset, dataset_for_profile, open_dataset
from yolo_lib.data.cache import CacheMismatchError, CachedDataset, build_cache, load_cache, open_cache
from yolo_lib.data.coco_subset import load_annotations, resolve_categories, select_images
from yolo_lib.data.download import fetch_annotations, fetch_images
from yolo_lib.data.letterbox import (
    LetterboxParams,
    boxes_from_letterbox,
    boxes_to_letterbox,
    letterbox_image,
    letterbox_params,
)
from yolo_lib.data.loader import Batch, BatchLoader
from yolo_lib.data.synthetic import SyntheticSpec, ensure_synthetic, write_synthetic

__all__ = [
    "AugmentConfig", "Batch", "BatchLoader", "CacheMismatchError", "CachedDataset",
    "LetterboxParams", "SyntheticSpec", "boxes_from_letterbox", "boxes_to_letterbox", "build_cache",
    "build_coco_subset", "dataset_for_profile", "ensure_synthetic", "fetch_annotations", "fetch_images", "letterbox_image",
    "letterbox_params", "load_annotations", "load_cache", "open_cache", "open_dataset",
    "resolve_categories", "select_images", "write_synthetic",
]
