"""The parity check row and the one table of tolerances (those of ``shared/fixtures/README.md``,
float32 on a CPU). Used by every parity group and by the ONNX exporter's report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Every parity tolerance of the project.
TOL_ACTIVATION = 1e-4  # layers, raw head outputs, BN statistics: max|diff| <= 1e-4 * max|reference|
TOL_BOX_PX = 2e-3  # decoded boxes and assigned target boxes, pixels (absolute)
TOL_SCORE = 1e-5  # decoded sigmoid class scores (absolute)
TOL_TARGET_SCORE = 1e-4  # assigner target scores (absolute)
TOL_LOSS = 1e-4  # loss items and total, relative
TOL_GRAD = 1e-3  # gradient of each parameter, relative norm
GRAD_ZERO_FLOOR = 1e-6  # gradients below this fraction of the global gradient norm count as zero


@dataclass(frozen=True)
class Check:
    """One comparison. ``ok`` is ``value <= tol`` by construction (False when ``value`` is None,
    i.e. it could not be computed; ``note`` then says why)."""

    name: str
    metric: str
    value: float | None
    tol: float
    note: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.value is not None and bool(self.value <= self.tol)

    def as_dict(self) -> dict:
        d = {"name": self.name, "metric": self.metric, "value": self.value, "tol": self.tol, "ok": self.ok}
        if self.note is not None:
            d["note"] = self.note
        return d


def failed(name: str, note: str) -> Check:
    """A check that could not run (missing input, unusable weights, shape mismatch)."""
    return Check(name, "error", None, 0.0, note)


def bounded(name: str, metric: str, value: float, tol: float) -> Check:
    """A check of ``value`` (None and a note when it is not finite)."""
    value = float(value)
    if not math.isfinite(value):
        return Check(name, metric, None, tol, "not finite")
    return Check(name, metric, value, tol)


def compare_relative(name: str, got, ref, tol: float = TOL_ACTIVATION) -> Check:
    """max|got - ref| / max|ref| (activations, head outputs, BN statistics)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return failed(name, f"shape {got.shape} != reference {ref.shape}")
    value = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
    return bounded(name, "max_abs_diff/max_abs_ref", value, tol)


def compare_absolute(name: str, got, ref, tol: float) -> Check:
    """max|got - ref| in the tensor's own units (decoded pixels, scores)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return failed(name, f"shape {got.shape} != reference {ref.shape}")
    return bounded(name, "max_abs_diff", float(np.max(np.abs(got - ref))), tol)
