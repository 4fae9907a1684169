"""A real photograph available offline: the portrait of Grace Hopper that matplotlib ships.

Notebooks draw feature maps, attention maps and detections on it instead of noise; it needs no
download and is present wherever matplotlib is installed (CI included).
"""

from __future__ import annotations

import numpy as np
from matplotlib import cbook
from PIL import Image

from yolo_lib.data.letterbox import LetterboxParams, letterbox_image
from yolo_lib.task import IMGSZ

CREDIT = "Grace Hopper (matplotlib sample data, 512x600)"


def sample_photo(size: int = IMGSZ) -> tuple[np.ndarray, np.ndarray, LetterboxParams]:
    """The photograph letterboxed to ``size``: (size, size, 3) uint8, the model input
    (1, 3, size, size) float32 in [0, 1] (RGB, NCHW), and the letterbox geometry."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as pil:
        image, params = letterbox_image(pil.convert("RGB"), size)
    batch = (image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
    return image, batch, params
