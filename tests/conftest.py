"""Shared pytest fixtures: the Ultralytics reference tensors in ``../shared`` (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_lib.paths import fixture_path, shared_dir

SHARED_MISSING = (
    "../shared (Ultralytics reference fixtures and the COCO sample) is not present: "
    "this is expected on a fresh clone; CI always has it"
)


@pytest.fixture(scope="session")
def shared():
    """Path of the shared folder, or skip."""
    root = shared_dir()
    if root is None:
        pytest.skip(SHARED_MISSING)
    return root


@pytest.fixture(scope="session")
def reference():
    """The YOLO11n nc=2 320px reference arrays (a dict-like NpzFile), or skip."""
    path = fixture_path("yolo11n_nc2_320.npz")
    if path is None:
        pytest.skip(SHARED_MISSING)
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}
