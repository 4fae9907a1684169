"""The official COCO-trained ``yolo11n.pt``: download it once (SHA-256 verified), find it, load it
without torch (:mod:`yolo_lib.checkpoint_pt`).

    python -m yolo_lib.data download-weights      # -> <data_dir>/yolo11n.pt

``$YOLO_WEIGHTS_URL`` replaces the download address (a mirror, or a local server in the tests);
``$YOLO_WEIGHTS_SHA256`` the expected checksum that goes with it. The default checksum is the one
published for Ultralytics' ``v8.3.0/yolo11n.pt`` release asset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yolo_lib import settings
from yolo_lib.data.download import DownloadError, download_url
from yolo_lib.model import DETECT_INDEX
from yolo_lib.paths import data_dir
from yolo_lib.weights import COCO_CELL_PHONE, COCO_PERSON

OFFICIAL_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt"
OFFICIAL_SHA256 = "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1"
FILE_NAME = "yolo11n.pt"
WORKSHOP_CLASSES = (COCO_PERSON, COCO_CELL_PHONE)
COCO_CLASSES = 80


def weights_url() -> str:
    """``$YOLO_WEIGHTS_URL`` or the official release asset."""
    return settings.weights_url() or OFFICIAL_URL


def weights_sha256() -> str:
    """``$YOLO_WEIGHTS_SHA256`` or the official checksum."""
    return settings.weights_sha256() or OFFICIAL_SHA256


def weights_path() -> Path:
    """Where the downloaded checkpoint lives: ``<data_dir>/yolo11n.pt``."""
    return data_dir() / FILE_NAME


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download_weights(dest: str | Path | None = None, url: str | None = None, sha256: str | None = None,
                     retries: int = 3) -> dict:
    """Make ``dest`` (default :func:`weights_path`) a verified copy of ``url``; returns a summary.

    A file already there with the right checksum is kept. A download is resumed after an
    interruption and only renamed to ``dest`` once complete; a wrong checksum deletes it and
    raises :class:`DownloadError`.
    """
    dest = Path(dest) if dest is not None else weights_path()
    url, want = url or weights_url(), (sha256 or weights_sha256()).lower()
    if dest.exists() and sha256_of(dest) == want:
        return {"path": str(dest), "status": "already present", "sha256": want}
    dest.unlink(missing_ok=True)
    for attempt in range(retries + 1):
        try:
            received = download_url(url, dest, timeout=120.0, resume=True)
            break
        except DownloadError:
            if attempt == retries:
                raise
    got = sha256_of(dest)
    if got != want:
        dest.unlink()
        raise DownloadError(f"{url}: SHA-256 {got} is not the expected {want}; file deleted")
    return {"path": str(dest), "status": "downloaded", "sha256": got, "megabytes": round(received / 1e6, 2)}


def find_weights() -> Path | None:
    """The downloaded official checkpoint, or None when it has not been downloaded."""
    p = weights_path()
    return p if p.is_file() else None


def load_state_dict(class_ids: Sequence[int] | None = WORKSHOP_CLASSES, verbose: bool = True) -> dict[str, np.ndarray] | None:
    """The official weights as a state dict (class rows ``class_ids``: person, cell phone by
    default; None keeps all 80), or None -- saying so when ``verbose`` -- when not downloaded."""
    from yolo_lib.checkpoint_pt import read_state_dict

    path = find_weights()
    if path is None:
        if verbose:
            print(f"official yolo11n.pt not found at {weights_path()}: falling back to seeded random weights "
                  "(run `python -m yolo_lib.data download-weights` for the real ones)")
        return None
    sd = read_state_dict(path, class_ids)
    if verbose:
        print(f"using the official COCO weights {path}" + (f" (classes {list(class_ids)})" if class_ids else ""))
    return sd


def workshop_state_dict(path: str | Path, class_ids: Sequence[int] = WORKSHOP_CLASSES) -> dict[str, np.ndarray]:
    """State dict of a ``.npz`` (yolo_lib / fixture layout) or ``.pt`` (Ultralytics) file; an
    80-class COCO checkpoint keeps only ``class_ids`` (person, cell phone), other class counts
    are returned as they are."""
    from yolo_lib.checkpoint_pt import read_state_dict, select_classes
    from yolo_lib.weights import read_npz

    path = Path(path)
    sd = read_state_dict(path) if path.suffix == ".pt" else read_npz(path)
    cls_out = sd.get(f"model.{DETECT_INDEX}.cv3.0.2.weight")
    if cls_out is None:
        raise ValueError(f"{path}: not a YOLO11 detection state dict (no model.{DETECT_INDEX}.cv3.0.2.weight)")
    if cls_out.shape[0] == COCO_CLASSES:
        print(f"{path.name}: 80 COCO classes, keeping {list(class_ids)} (person, cell phone)")
        sd = select_classes(sd, class_ids)
    return sd
