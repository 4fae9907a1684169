"""Where things live: the repository, its data directory and the optional ``../shared`` folder."""

from __future__ import annotations

from pathlib import Path

from yolo_lib import settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Directory where datasets and caches land (``$YOLO_DATA_DIR`` or ``<repo>/data``)."""
    return settings.data_dir_override() or REPO_ROOT / "data"


def shared_dir() -> Path | None:
    """The project's ``shared`` folder (fixtures, COCO sample), or None on a fresh clone.

    Looked up as ``$YOLO_SHARED_DIR``, then ``<repo>/../shared``, then ``<repo>/shared``.
    ``YOLO_SHARED_DIR=none`` hides every shared folder: the project then behaves like a fresh
    clone (the tests and notebooks use the compact reference of :mod:`yolo_lib.weights.reference`).
    """
    if settings.shared_dir_hidden():
        return None
    candidates = [settings.shared_dir_override(), REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    for c in candidates:
        if c and Path(c, "fixtures").is_dir():
            return Path(c)
    return None


def fixture_path(name: str = "yolo11n_nc2_320.npz") -> Path | None:
    """Path of a file in ``shared/fixtures``, or None when it is not available."""
    root = shared_dir()
    if root is None:
        return None
    p = root / "fixtures" / name
    return p if p.exists() else None
