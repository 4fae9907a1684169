"""Every environment variable yolo_lib reads, read here and nowhere else (table: docs/environment.md).

:func:`apply_process_defaults` runs when ``yolo_lib`` is imported. It makes float32 and JAX's
32-bit mode hold whatever the import order:

* ``import yolo_lib`` before PyTensor: ``PYTENSOR_FLAGS`` gets ``floatX=float32`` before PyTensor
  reads it;
* PyTensor already imported (``import pytensor, yolo_lib``): ``pytensor.config.floatX`` is set to
  float32 directly;
* PyTensor's JAX dispatch module switches JAX's 64-bit mode on import (on when floatX is
  float64, off otherwise), so whichever module imports it first used to decide: when JAX is
  already imported, 64-bit mode is switched off here too.

Undocumented behaviour relied on (PyTensor 3.0.x): importing ``pytensor.link.jax.dispatch``
calls ``jax.config.update("jax_enable_x64", floatX == "float64")``.

A ``floatX`` the user wrote in ``PYTENSOR_FLAGS`` is respected (e.g. ``floatX=float64`` for
gradient checks of single Ops); then nothing is changed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The variables, their defaults and what they do (docs/environment.md shows the same table).
VARIABLES: dict[str, str] = {
    "YOLO_PROFILE": "smoke | full; default full on a GPU, else smoke (yolo_lib.notebook.profile)",
    "YOLO_DATA_DIR": "datasets, caches, runs; default <repo>/data",
    "YOLO_SHARED_DIR": "the shared folder with fixtures/ and the COCO sample; default ../shared or ./shared; "
                       "none hides it (behave like a fresh clone)",
    "YOLO_JAX_CACHE": "0 turns off JAX's persistent compilation cache in <data dir>/jax_cache",
    "YOLO_STEP_CACHE": "0 makes the training step rebuild its graph instead of loading it from <data dir>/step_cache",
    "YOLO_CHROMIUM": "a Chromium/Chrome binary for the browser-demo tests; default Debian's /usr/lib/chromium/chromium",
    "YOLO_WEIGHTS": "weights .npz or .pt for notebook 11 (ONNX parity); default the downloaded yolo11n.pt, "
                    "else the reference weights",
    "YOLO_WEIGHTS_URL": "where download-weights fetches yolo11n.pt; default the Ultralytics release asset",
    "YOLO_WEIGHTS_SHA256": "the checksum download-weights expects; default the official one",
    "YOLO_REFERENCE": "compact: use the compact reference even when ../shared has the large fixture",
    "CI": "true under CI: a missing ../shared reference fails instead of skipping",
    "PYTENSOR_FLAGS": "PyTensor's own flags; yolo_lib adds floatX=float32 unless floatX is given",
    "XLA_PYTHON_CLIENT_PREALLOCATE": "JAX's own; yolo_lib sets false unless given, so notebooks share a GPU",
}


def _get(name: str, default: str = "") -> str:
    assert name in VARIABLES, f"{name} is not listed in yolo_lib.settings.VARIABLES"
    return os.environ.get(name, default)


def profile_name() -> str:
    """``$YOLO_PROFILE`` lower-cased and stripped ('' when unset)."""
    return _get("YOLO_PROFILE").strip().lower()


def data_dir_override() -> Path | None:
    """``$YOLO_DATA_DIR`` or None."""
    value = _get("YOLO_DATA_DIR")
    return Path(value) if value else None


def shared_dir_override() -> Path | None:
    """``$YOLO_SHARED_DIR`` or None."""
    value = _get("YOLO_SHARED_DIR")
    return Path(value) if value else None


def shared_dir_hidden() -> bool:
    """True when ``YOLO_SHARED_DIR`` is none/off/0: act as a fresh clone without ``../shared``."""
    return _get("YOLO_SHARED_DIR").strip().lower() in ("none", "off", "0")


def jax_cache_enabled() -> bool:
    """False when ``YOLO_JAX_CACHE=0``."""
    return _get("YOLO_JAX_CACHE", "1") != "0"


def step_cache_enabled() -> bool:
    """False when ``YOLO_STEP_CACHE=0``."""
    return _get("YOLO_STEP_CACHE", "1") != "0"


def weights_path() -> str:
    """``$YOLO_WEIGHTS`` ('' when unset)."""
    return _get("YOLO_WEIGHTS")


def chromium_override() -> Path | None:
    """``$YOLO_CHROMIUM`` or None."""
    value = _get("YOLO_CHROMIUM")
    return Path(value) if value else None


def weights_url() -> str:
    """``$YOLO_WEIGHTS_URL`` ('' when unset)."""
    return _get("YOLO_WEIGHTS_URL")


def weights_sha256() -> str:
    """``$YOLO_WEIGHTS_SHA256`` lower-cased ('' when unset)."""
    return _get("YOLO_WEIGHTS_SHA256").strip().lower()


def prefer_compact_reference() -> bool:
    """True when ``YOLO_REFERENCE=compact``."""
    return _get("YOLO_REFERENCE").strip().lower() == "compact"


def under_ci() -> bool:
    """True when ``$CI`` says this is a CI run (``CI=true``, as most CI systems set it)."""
    return _get("CI").strip().lower() in ("true", "1", "yes")


def user_chose_floatx() -> bool:
    """True when ``PYTENSOR_FLAGS`` names a floatX (then yolo_lib leaves precision alone)."""
    return "floatX" in _get("PYTENSOR_FLAGS")


def apply_process_defaults() -> None:
    """GPU memory sharing, float32 and JAX 32-bit, whatever was imported before (see module doc)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if user_chose_floatx():
        return
    flags = _get("PYTENSOR_FLAGS")
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "floatX=float32") if f)
    if "pytensor" in sys.modules:  # imported before yolo_lib: its config was read already
        sys.modules["pytensor"].config.floatX = "float32"
    if "jax" in sys.modules:  # PyTensor's JAX dispatch may have turned 64-bit mode on already
        sys.modules["jax"].config.update("jax_enable_x64", False)
