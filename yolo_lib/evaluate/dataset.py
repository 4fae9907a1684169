"""The evaluation set: a COCO instances json and its image folder, read without augmentation.

Images are letterboxed to ``imgsz x imgsz`` (grey 114, :mod:`yolo_lib.data.letterbox`, the same
transform as training); the evaluator scales them to [0, 1] float32 NCHW. An image that is missing or cannot be
decoded is not an error: it is named in the report and left out of both the ground truth and
the predictions, so it is never silently counted as a miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from yolo_lib.data.coco_subset import load_annotations
from yolo_lib.data.letterbox import LetterboxParams, letterbox_image
from yolo_lib.evaluate.classes import EvaluationError


@dataclass
class LoadedImage:
    """One letterboxed image: ``pixels (S, S, 3)`` uint8 RGB, and its letterbox."""

    record: dict
    pixels: np.ndarray
    letterbox: LetterboxParams


@dataclass
class BadImage:
    """An image of the json that could not be read, and why."""

    record: dict
    reason: str


def read_annotations(path: str | Path) -> dict:
    """The instances dict of a COCO json; :class:`EvaluationError` (one line) if it is not one."""
    try:
        dataset = load_annotations(path).dataset
    except (FileNotFoundError, ValueError) as e:
        raise EvaluationError(str(e).splitlines()[0]) from None
    if not dataset["images"]:
        raise EvaluationError(f"annotation file {path} lists no images: nothing to evaluate")
    if not dataset["categories"]:
        raise EvaluationError(f"annotation file {path} has no categories")
    return dataset


def load_image(record: dict, folder: Path, imgsz: int) -> LoadedImage | BadImage:
    """Read and letterbox the image of a COCO ``images`` entry, or say why it cannot be read."""
    path = folder / record["file_name"]
    if not path.is_file():
        return BadImage(record, f"missing file {path}")
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            rgb = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return BadImage(record, f"cannot decode {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    canvas, params = letterbox_image(rgb, imgsz)
    return LoadedImage(record, canvas, params)


def subset(dataset: dict, image_ids: set[int]) -> dict:
    """The instances dict restricted to ``image_ids`` (their annotations, crowd ones included)."""
    return {**dataset,
            "images": [i for i in dataset["images"] if i["id"] in image_ids],
            "annotations": [a for a in dataset["annotations"] if a["image_id"] in image_ids]}


def check_folder(images: str | Path) -> Path:
    folder = Path(images)
    if not folder.is_dir():
        raise EvaluationError(f"image folder not found: {folder}")
    return folder
