"""Environment self-check used by ``notebooks/00_setup`` and ``tests/test_envcheck.py``.

:func:`check_environment` returns one :class:`Check` per requirement; :func:`report` prints them
as an OK/FAIL table and raises :class:`EnvironmentError` when a requirement fails.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata

from yolo_lib import settings
from yolo_lib.paths import data_dir, fixture_path

MIN_PYTHON = (3, 11)
# import name -> distribution name
REQUIRED_PACKAGES = {
    "pytensor": "pytensor",
    "jax": "jax",
    "jaxlib": "jaxlib",
    "numpy": "numpy",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "pycocotools": "pycocotools",
    "matplotlib": "matplotlib",
    "PIL": "pillow",
    "tqdm": "tqdm",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _check_python() -> Check:
    v = sys.version_info
    return Check("python", v[:2] >= MIN_PYTHON, f"{v.major}.{v.minor}.{v.micro} (need >= 3.11)")


def _check_package(module: str, dist: str) -> Check:
    try:
        importlib.import_module(module)
    except Exception as exc:  # an import can fail in many ways; report, never crash
        return Check(dist, False, f"import {module} failed: {exc}")
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = "unknown version"
    return Check(dist, True, version)


def _check_jax_devices(profile_name: str) -> Check:
    try:
        import jax

        devices = jax.devices()
        backend = jax.default_backend()
    except Exception as exc:
        return Check("jax devices", False, f"jax.devices() failed: {exc}")
    detail = f"backend={backend} devices={[str(d) for d in devices]}"
    if profile_name == "full" and backend != "gpu":
        return Check("jax devices", False, detail + " -- YOLO_PROFILE=full needs a GPU (install the cuda extra)")
    return Check("jax devices", True, detail)


def _check_float32() -> Check:
    try:
        import pytensor
        import pytensor.tensor as pt
    except Exception as exc:
        return Check("pytensor floatX", False, f"import failed: {exc}")
    x = pt.matrix("x")
    ok = pytensor.config.floatX == "float32" and x.dtype == "float32"
    return Check("pytensor floatX", ok, f"floatX={pytensor.config.floatX}, pt.matrix dtype={x.dtype}")


def _check_data_dir() -> Check:
    d = data_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".write-test-"):
            pass
    except OSError as exc:
        return Check("data directory", False, f"{d} is not writable: {exc}")
    return Check("data directory", True, f"{d} is writable")


def _check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except Exception as exc:
        return Check("onnxruntime providers", False, f"import failed: {exc}")
    providers = ort.get_available_providers()
    return Check("onnxruntime providers", "CPUExecutionProvider" in providers, ", ".join(providers))


def _check_reference() -> Check:
    """The Ultralytics reference behind the parity checks: the shared fixture, else the compact
    one shipped with the repository; under CI the shared fixture is required."""
    from yolo_lib.weights.reference import COMPACT_PATH, FULL_NAME

    full = fixture_path(FULL_NAME)
    if full is not None:
        return Check("Ultralytics reference", True, f"shared fixture {full}")
    if settings.under_ci():
        return Check("Ultralytics reference", False, f"CI=true but shared/fixtures/{FULL_NAME} is missing")
    if COMPACT_PATH.exists():
        return Check("Ultralytics reference", True, f"compact reference {COMPACT_PATH.name} (no ../shared, as on "
                     "a fresh clone: every comparison with Ultralytics runs on it, at 128 px)")
    return Check("Ultralytics reference", False, f"neither shared/fixtures/{FULL_NAME} nor {COMPACT_PATH} exists")


def check_environment(profile_name: str | None = None) -> list[Check]:
    """Run every check. ``profile_name`` defaults to ``$YOLO_PROFILE`` (empty = no GPU demand)."""
    if profile_name is None:
        profile_name = settings.profile_name()
    checks = [_check_python()]
    checks += [_check_package(m, d) for m, d in REQUIRED_PACKAGES.items()]
    checks += [_check_jax_devices(profile_name), _check_float32(), _check_data_dir(), _check_onnxruntime(),
               _check_reference()]
    return checks


def report(checks: list[Check]) -> None:
    """Print an OK/FAIL line per check; raise EnvironmentError naming the failures."""
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'OK  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise EnvironmentError("environment check failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
