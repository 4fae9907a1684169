"""SGD as Ultralytics configures it, as symbolic updates plus a state object that saves/restores.

Three parameter groups (``param_group``): ``weight`` (convolution weights, coupled weight decay
``cfg.scaled_weight_decay``), ``bn`` (BN weights, no decay) and ``bias`` (all biases, no decay;
their own learning rate during warm-up). PyTorch ``SGD(nesterov=True)`` semantics per step::

    d = g + wd * p          (weight group only)
    buf = momentum * buf + d
    p = p - lr * (d + momentum * buf)

Gradients of ``accumulate`` batches are summed in ``grad_sum`` buffers; at an optimizer step the
sum (this batch included) is clipped to global norm ``max_grad_norm`` (PyTorch
``clip_grad_norm_``: scale by min(1, max / (norm + 1e-6))), applied, and the sum reset to zero.
Whether a call steps is the input ``do_step``, so one compiled function serves both kinds of
iteration. All state lives in shared variables (device buffers, donated by the step).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt


def param_group(name: str) -> str:
    """``bias`` for biases, ``bn`` for BN weights, ``weight`` for convolution weights."""
    if name.endswith(".bias"):
        return "bias"
    return "bn" if ".bn." in name else "weight"


def clip_by_global_norm(grads: list, max_norm: float) -> list:
    """PyTorch ``clip_grad_norm_``: scale all gradients by min(1, max_norm / (norm + 1e-6))."""
    norm = pt.sqrt(sum((g ** 2).sum() for g in grads))
    coef = pt.minimum(np.float32(max_norm) / (norm + np.float32(1e-6)), np.float32(1.0))
    return [g * coef for g in grads]


class SGD:
    """Momentum buffers and gradient sums of every parameter of ``params`` (name -> shared).

    ``weight_decay`` is the already scaled decay of the ``weight`` group. ``last_step`` (the
    iteration of the latest optimizer step, -1 before the first) is kept here so the
    accumulation rule survives a resume.
    """

    def __init__(self, params: dict, weight_decay: float, max_grad_norm: float | None = 10.0, nesterov: bool = True):
        self.params, self.weight_decay = params, float(weight_decay)
        self.max_grad_norm, self.nesterov = max_grad_norm, nesterov
        self.momentum_buffers = {n: self._zeros(f"momentum/{n}", p) for n, p in params.items()}
        self.grad_sums = {n: self._zeros(f"grad_sum/{n}", p) for n, p in params.items()}
        self.last_step = -1
        self.steps = 0

    @staticmethod
    def _zeros(name, p):
        shape = p.type.shape
        return pytensor.shared(np.zeros(shape, np.float32), name=name, shape=shape)

    def updates(self, grads: list, lr_weight, lr_bias, momentum, do_step) -> tuple[list, dict]:
        """Symbolic ``[(shared, new)]`` for buffers, sums and parameters, plus ``{name: new
        parameter}`` (for the EMA). ``do_step`` a boolean scalar: False only adds to the sums."""
        updates, new_params = [], {}
        total = [self.grad_sums[n] + g for n, g in zip(self.params, grads)]
        clipped = clip_by_global_norm(total, self.max_grad_norm) if self.max_grad_norm else total
        for (name, p), g_sum, g in zip(self.params.items(), total, clipped):
            group = param_group(name)
            d = g + np.float32(self.weight_decay) * p if group == "weight" else g
            buf = self.momentum_buffers[name]
            new_buf = momentum * buf + d
            step = d + momentum * new_buf if self.nesterov else new_buf
            lr = lr_bias if group == "bias" else lr_weight
            new_p = pt.switch(do_step, p - lr * step, p)
            updates += [(buf, pt.switch(do_step, new_buf, buf)),
                        (self.grad_sums[name], pt.switch(do_step, pt.zeros_like(g_sum), g_sum)),
                        (p, new_p)]
            new_params[name] = new_p
        return updates, new_params

    def state_dict(self) -> dict:
        """Plain dict: ``momentum`` and ``grad_sum`` (name -> array), ``last_step``, ``steps``."""
        return {"momentum": {n: np.asarray(v.get_value()) for n, v in self.momentum_buffers.items()},
                "grad_sum": {n: np.asarray(v.get_value()) for n, v in self.grad_sums.items()},
                "last_step": self.last_step, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (every buffer must be present, same shapes)."""
        for key, shared in (("momentum", self.momentum_buffers), ("grad_sum", self.grad_sums)):
            for name, var in shared.items():
                value = np.asarray(state[key][name], np.float32)
                if value.shape != var.type.shape:
                    raise ValueError(f"optimizer state {key}/{name}: shape {value.shape}, model {var.type.shape}")
                var.set_value(value)
        self.last_step, self.steps = int(state["last_step"]), int(state["steps"])
