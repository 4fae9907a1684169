"""Shared pytest fixtures: the Ultralytics reference arrays and the ``../shared`` folder.

``reference`` is the shared fixture when ``../shared`` is present, else the compact reference
shipped in ``yolo_lib/weights/reference_data`` (so a fresh clone runs every parity test). Tests that need
``../shared`` itself (the COCO sample, Ultralytics' ONNX file) skip without it -- except under CI
(``CI=true``), where a missing reference or shared folder is an error, never a silent skip.
Run as a fresh clone would with ``YOLO_SHARED_DIR=none`` (see :mod:`yolo_lib.paths`).
"""

from __future__ import annotations

import pytest

from yolo_lib.weights import reference as reference_data
from yolo_lib import settings
from yolo_lib.paths import shared_dir

SHARED_MISSING = (
    "../shared (Ultralytics reference fixtures and the COCO sample) is not present: "
    "this is expected on a fresh clone; CI always has it"
)


def missing(reason: str):
    """Skip with ``reason`` -- or fail under CI, where a missing reference must not pass unseen."""
    if settings.under_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared():
    """Path of the shared folder, or skip (fail under CI)."""
    root = shared_dir()
    if root is None:
        missing(SHARED_MISSING)
    return root


@pytest.fixture(scope="session")
def reference():
    """The YOLO11n nc=2 reference arrays (:func:`yolo_lib.weights.reference.load`): the shared 320 px
    fixture when present, else the compact 128 px one; skip (fail under CI) when neither is."""
    try:
        return reference_data.load()
    except reference_data.ReferenceMissingError as err:
        missing(str(err))
