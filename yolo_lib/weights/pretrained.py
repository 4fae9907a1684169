"""The official COCO-trained ``yolo11n.pt``: download it once (SHA-256 verified), find it, load it
without torch (:mod:`yolo_lib.weights.checkpoint_pt`).

    python -m yolo_lib.data download-weights      # -> <data_dir>/yolo11n.pt

Notebooks pick the weights they draw pictures with through :func:`choose_weights`: this file
when present, else the untrained Ultralytics reference, saying which in one printed line.
(Parity checks always use the reference's weights: they are what Ultralytics ran.)

``$YOLO_WEIGHTS_URL`` replaces the download address (a mirror, or a local server in the tests);
``$YOLO_WEIGHTS_SHA256`` the expected checksum that goes with it. The default checksum is the one
published for Ultralytics' ``v8.3.0/yolo11n.pt`` release asset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo_lib import settings
from yolo_lib.data.download import DownloadError, download_url
from yolo_lib.model import DETECT_INDEX
from yolo_lib.paths import data_dir
from yolo_lib.task import CLASS_NAMES, coco80_rows

OFFICIAL_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt"
OFFICIAL_SHA256 = "0ebbc80d4a7680d14987a577cd21342b65ecfd94632bd9a8da63ae6417644ee1"
FILE_NAME = "yolo11n.pt"
WORKSHOP_CLASSES = tuple(coco80_rows(CLASS_NAMES))  # their rows in the 80-class head
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


def official_state_dict(class_ids: Sequence[int] | None = WORKSHOP_CLASSES,
                        verbose: bool = True) -> dict[str, np.ndarray] | None:
    """The official weights as a state dict (class rows ``class_ids``: person, cell phone by
    default; None keeps all 80), or None -- saying so when ``verbose`` -- when not downloaded."""
    from yolo_lib.weights.checkpoint_pt import read_state_dict

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
    from yolo_lib.weights import read_npz, select_class_rows
    from yolo_lib.weights.checkpoint_pt import read_state_dict

    path = Path(path)
    sd = read_state_dict(path) if path.suffix == ".pt" else read_npz(path)
    cls_out = sd.get(f"model.{DETECT_INDEX}.cv3.0.2.weight")
    if cls_out is None:
        raise ValueError(f"{path}: not a YOLO11 detection state dict (no model.{DETECT_INDEX}.cv3.0.2.weight)")
    if cls_out.shape[0] == COCO_CLASSES:
        print(f"{path.name}: 80 COCO classes, keeping {list(class_ids)} (person, cell phone)")
        sd = select_class_rows(sd, class_ids)
    return sd


@dataclass(frozen=True)
class ChosenWeights:
    """The weights a notebook shows pictures with. ``trained``: real weights (the official
    ``yolo11n.pt`` or a given checkpoint) rather than the reference's random initialisation;
    ``label``: a few words for figure titles; ``message``: the line :func:`choose_weights` prints."""

    state_dict: dict[str, np.ndarray]
    trained: bool
    label: str
    message: str

    def model(self):
        """The YOLO11 these weights describe, loaded (:func:`yolo_lib.weights.model_from_state_dict`)."""
        from yolo_lib.weights import model_from_state_dict

        return model_from_state_dict(self.state_dict)


def choose_weights(ref=None, path: str | Path | None = None, class_ids: Sequence[int] = WORKSHOP_CLASSES,
                   verbose: bool = True) -> ChosenWeights:
    """Weights for the notebooks' pictures, in this order: ``path`` if given (a trained ``.npz``
    or ``.pt``, see :func:`workshop_state_dict`), else the downloaded official ``yolo11n.pt``
    (classes ``class_ids``: person, cell phone), else the reference's untrained weights (``ref``:
    a :class:`yolo_lib.weights.reference.Reference`; default :func:`yolo_lib.weights.reference.load`). Prints
    one line saying which (and, on the fallback, how to get the real ones) when ``verbose``."""
    official = None if path else find_weights()
    if path:
        chosen = ChosenWeights(workshop_state_dict(path, class_ids), True, Path(path).name,
                               f"weights: {path} (given by WEIGHTS / $YOLO_WEIGHTS)")
    elif official is not None:
        from yolo_lib.weights.checkpoint_pt import read_state_dict

        kept = "all 80 classes" if class_ids is None else f"COCO classes {list(class_ids)} kept"
        chosen = ChosenWeights(read_state_dict(official, class_ids), True, "pretrained yolo11n.pt",
                               f"weights: the pretrained yolo11n.pt (official COCO weights, {kept}) from {official}")
    else:
        if ref is None:
            from yolo_lib.weights import reference

            ref = reference.load()
        chosen = ChosenWeights(ref.state_dict(), False, "reference's random init (untrained)",
                               f"weights: UNTRAINED, the random initialisation of the {ref.source}; for the "
                               f"pretrained yolo11n.pt run `python -m yolo_lib.data download-weights` (-> {weights_path()})")
    if verbose:
        print(chosen.message)
    return chosen
