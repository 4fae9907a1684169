"""Exponential moving average of the weights and BN statistics (Ultralytics ``ModelEMA``).

After every optimizer step (``updates`` counts them, this one included)::

    d = decay * (1 - exp(-updates / tau))        (0.9999, 2000)
    ema = d * ema + (1 - d) * model              for every parameter and BN running mean/var

The EMA starts as a copy of the model. Its values are shared variables updated inside the
compiled step (``d`` is an input, computed on the host by :meth:`EMA.decay`). :meth:`EMA.copy_to`
writes them into another YOLO11 of the same shape (the evaluation model), never into the
training model.
"""

from __future__ import annotations

import math

import numpy as np
import pytensor
import pytensor.tensor as pt


class EMA:
    """EMA shared variables for ``tensors`` (name -> shared: the model's params and buffers)."""

    def __init__(self, tensors: dict, decay: float = 0.9999, tau: float = 2000.0):
        self.max_decay, self.tau = float(decay), float(tau)
        self.values = {n: pytensor.shared(np.asarray(v.get_value(), np.float32), name=f"ema/{n}", shape=v.type.shape)
                       for n, v in tensors.items()}
        self.updates = 0

    def decay(self, updates: int) -> float:
        """``d`` for the ``updates``-th update (1-based)."""
        return self.max_decay * (1 - math.exp(-updates / self.tau))

    def symbolic_updates(self, new_values: dict, d, do_step) -> list:
        """``[(ema, new)]``: blend with the model's new values when ``do_step`` (boolean scalar)."""
        out = []
        for name, ema in self.values.items():
            blended = d * ema + (np.float32(1.0) - d) * new_values[name]
            out.append((ema, pt.switch(do_step, blended, ema)))
        return out

    def copy_to(self, model) -> None:
        """Write the EMA into ``model``'s parameters and BN buffers (same architecture)."""
        targets = {**model.params, **model.buffers}
        for name, ema in self.values.items():
            targets[name].set_value(ema.get_value())

    def state_dict(self) -> dict:
        """Plain dict: ``values`` (name -> array) and ``updates``."""
        return {"values": {n: np.asarray(v.get_value()) for n, v in self.values.items()}, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        for name, var in self.values.items():
            value = np.asarray(state["values"][name], np.float32)
            if value.shape != var.type.shape:
                raise ValueError(f"EMA {name}: shape {value.shape}, model {var.type.shape}")
            var.set_value(value)
        self.updates = int(state["updates"])
