"""Batch normalisation over NCHW (per channel), matching PyTorch/Ultralytics numerics.

Training mode, ``BatchNormTrain(eps)(x, gamma, beta) -> (y, batch_mean, batch_var_unbiased)``:
    mean, var = mean and *biased* variance of x over (N, H, W)          (C,)
    y = (x - mean) / sqrt(var + eps) * gamma + beta                      (N, C, H, W)
    batch_var_unbiased = var * M / (M - 1),  M = N * H * W               (C,)  for running stats
Its backward pass is the closed-form training-mode formula (see notebook 01): with
``xhat = (x - mean) / sqrt(var + eps)`` and upstream gradient ``g``,
    dbeta = sum(g), dgamma = sum(g * xhat),
    dx = gamma / sqrt(var + eps) / M * (M * g - dbeta - xhat * dgamma).

Inference mode, ``BatchNormEval(eps)(x, gamma, beta, running_mean, running_var) -> y``, uses the
running statistics (a separate Op so the ONNX exporter can fold it into the preceding conv).
``running_stat_updates`` gives ``running = (1 - momentum) * running + momentum * batch``
(momentum 0.03, Ultralytics' value) for ``pytensor.function(updates=...)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.tensor.type import tensor

from ._params import check_rank
from ._tensor import float_inputs

DEFAULT_EPS = 1e-3
DEFAULT_MOMENTUM = 0.03
_REDUCE_AXES = (0, 2, 3)


def _per_channel(v):
    """(C,) -> (1, C, 1, 1) for broadcasting against NCHW."""
    return v.dimshuffle("x", 0, "x", "x")


def _check_channel_vectors(op_name: str, x, **vectors) -> int | None:
    """Check x is 4-D and every vector is (C,) with C = x.shape[1]; return the static C (or None)."""
    check_rank(op_name, "x", x, 4, "(N, C, H, W)")
    c = x.type.shape[1]
    for name, v in vectors.items():
        check_rank(op_name, name, v, 1, "(C,)")
        vc = v.type.shape[0]
        if c is not None and vc is not None and vc != c:
            raise ValueError(
                f"{op_name}: {name} has shape {v.type.shape} but x of shape {x.type.shape} has C={c}"
            )
        c = c if c is not None else vc
    return c


class _BatchNormParams(Op):
    __props__ = ("eps",)

    def __init__(self, eps=DEFAULT_EPS):
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.eps = float(eps)


class BatchNormTrain(_BatchNormParams):
    """(x (N,C,H,W), gamma (C,), beta (C,)) -> (y (N,C,H,W), batch_mean (C,), batch_var_unbiased (C,))."""

    def make_node(self, x, gamma, beta):
        x, gamma, beta = float_inputs(x, gamma, beta)
        c = _check_channel_vectors("BatchNormTrain", x, gamma=gamma, beta=beta)
        n, _, h, w = x.type.shape
        if None not in (n, h, w) and n * h * w < 2:
            raise ValueError(
                f"BatchNormTrain: needs more than one value per channel (N*H*W >= 2), got x shape {x.type.shape}"
            )
        dtype = x.type.dtype
        y = tensor(dtype=dtype, shape=(n, c, h, w))
        return Apply(
            self, [x, gamma, beta], [y, tensor(dtype=dtype, shape=(c,)), tensor(dtype=dtype, shape=(c,))]
        )

    def perform(self, node, inputs, outputs):
        x, gamma, beta = inputs
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=_REDUCE_AXES)
        xc = x - mean[None, :, None, None]
        var = (xc * xc).mean(axis=_REDUCE_AXES)
        scale = gamma / np.sqrt(var + np.asarray(self.eps, x.dtype))
        dtype = node.outputs[0].type.dtype
        outputs[0][0] = (xc * scale[None, :, None, None] + beta[None, :, None, None]).astype(dtype)
        outputs[1][0] = mean.astype(dtype)
        outputs[2][0] = (var * (m / (m - 1))).astype(dtype)

    def infer_shape(self, fgraph, node, shapes):
        x_shape = shapes[0]
        return [x_shape, (x_shape[1],), (x_shape[1],)]

    def pullback(self, inputs, outputs, cotangents):
        x, gamma, beta = inputs
        _, mean, var_unbiased = outputs
        g_y, g_mean, g_var = cotangents
        dtype = x.type.dtype
        m = pt.cast(x.shape[0] * x.shape[2] * x.shape[3], dtype)
        var = var_unbiased * ((m - 1) / m)
        inv_std = 1 / pt.sqrt(var + np.asarray(self.eps, dtype))
        xc = x - _per_channel(mean)
        g_x = pt.zeros_like(x)
        g_gamma, g_beta = pt.zeros_like(gamma), pt.zeros_like(beta)
        if not isinstance(g_y.type, DisconnectedType):
            xhat = xc * _per_channel(inv_std)
            g_beta = g_y.sum(axis=_REDUCE_AXES, acc_dtype=dtype)
            g_gamma = (g_y * xhat).sum(axis=_REDUCE_AXES, acc_dtype=dtype)
            g_x = _per_channel(gamma * inv_std / m) * (
                m * g_y - _per_channel(g_beta) - xhat * _per_channel(g_gamma)
            )
        if not isinstance(g_mean.type, DisconnectedType):
            g_x = g_x + _per_channel(g_mean / m)
        if not isinstance(g_var.type, DisconnectedType):
            g_x = g_x + xc * _per_channel(g_var * (2 / (m - 1)))
        return [g_x, g_gamma, g_beta]


class BatchNormEval(_BatchNormParams):
    """y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta; x (N,C,H,W), the rest (C,)."""

    def make_node(self, x, gamma, beta, running_mean, running_var):
        x, gamma, beta, running_mean, running_var = float_inputs(x, gamma, beta, running_mean, running_var)
        c = _check_channel_vectors(
            "BatchNormEval", x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var
        )
        n, _, h, w = x.type.shape
        return Apply(
            self,
            [x, gamma, beta, running_mean, running_var],
            [tensor(dtype=x.type.dtype, shape=(n, c, h, w))],
        )

    def perform(self, node, inputs, outputs):
        x, gamma, beta, mean, var = inputs
        scale = gamma / np.sqrt(var + np.asarray(self.eps, x.dtype))
        y = (x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]
        outputs[0][0] = y.astype(node.outputs[0].type.dtype)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        x, gamma, beta, mean, var = inputs
        (g_y,) = cotangents
        dtype = x.type.dtype
        inv_std = 1 / pt.sqrt(var + np.asarray(self.eps, dtype))
        xc = x - _per_channel(mean)
        g_beta = g_y.sum(axis=_REDUCE_AXES, acc_dtype=dtype)
        g_xc_sum = (g_y * xc).sum(axis=_REDUCE_AXES, acc_dtype=dtype)
        return [
            g_y * _per_channel(gamma * inv_std),
            g_xc_sum * inv_std,
            g_beta,
            -g_beta * gamma * inv_std,
            g_xc_sum * gamma * (-0.5) * inv_std**3,
        ]


def batch_norm_train(x, gamma, beta, eps=DEFAULT_EPS):
    """Training-mode batch norm of x (N, C, H, W) -> (y, batch_mean (C,), batch_var_unbiased (C,))."""
    y, mean, var = BatchNormTrain(eps)(x, gamma, beta)
    return y, mean, var


def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=DEFAULT_EPS):
    """Inference-mode batch norm of x (N, C, H, W) with running statistics (C,)."""
    return BatchNormEval(eps)(x, gamma, beta, running_mean, running_var)


def running_stat_updates(running_mean, running_var, batch_mean, batch_var, momentum=DEFAULT_MOMENTUM):
    """[(running_mean, new_mean), (running_var, new_var)] with new = (1 - momentum) * old + momentum * batch.

    ``batch_var`` should be the unbiased batch variance (as PyTorch uses). Constants are cast to
    the running statistics' dtype so float32 stays float32.
    """
    if not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    updates = []
    for running, batch in ((running_mean, batch_mean), (running_var, batch_var)):
        dtype = running.type.dtype
        keep, take = np.asarray(1.0 - momentum, dtype), np.asarray(momentum, dtype)
        new = keep * running + take * pt.cast(batch, dtype)
        updates.append((running, new))
    return updates


def _jax_eps(op, dtype):
    return jnp.asarray(op.eps, dtype=dtype)


@jax_funcify.register(BatchNormTrain)
def _jax_batch_norm_train(op, node=None, **kwargs):
    def batch_norm_train(x, gamma, beta):
        m = x.shape[0] * x.shape[2] * x.shape[3]
        mean = x.mean(axis=_REDUCE_AXES)
        xc = x - mean[None, :, None, None]
        var = (xc * xc).mean(axis=_REDUCE_AXES)
        scale = gamma * jax.lax.rsqrt(var + _jax_eps(op, x.dtype))
        y = xc * scale[None, :, None, None] + beta[None, :, None, None]
        return y, mean, var * (m / (m - 1))

    return batch_norm_train


@jax_funcify.register(BatchNormEval)
def _jax_batch_norm_eval(op, node=None, **kwargs):
    def batch_norm_eval(x, gamma, beta, mean, var):
        scale = gamma * jax.lax.rsqrt(var + _jax_eps(op, x.dtype))
        return (x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]

    return batch_norm_eval
