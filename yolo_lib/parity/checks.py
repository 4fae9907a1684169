"""The parity check row and how a tensor is compared; the tolerances are :mod:`yolo_lib.tolerances`.
Used by every parity group."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from yolo_lib.tolerances import TOL_ACTIVATION


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
