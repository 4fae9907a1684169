"""Nearest-neighbour upsampling by integer factors, as PyTensor Ops.

``UpsampleNearest(x) -> y``: x (N, C, H, W) -> (N, C, H * sh, W * sw), each pixel copied into an
(sh, sw) block. Its gradient ``UpsampleNearestGrad(gy)`` sums each block back to one pixel.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
import numpy as np
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.tensor.type import tensor

from ._params import check_rank
from ._tensor import float_inputs


def _scale_pair(scale) -> tuple[int, int]:
    items = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    ok = len(items) == 2 and all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and float(s).is_integer() and s >= 1
        for s in items
    )
    if not ok:
        raise ValueError(f"upsample scale must be a positive integer or a pair of them, got {scale!r}")
    return tuple(int(s) for s in items)


class _UpsampleParams(Op):
    __props__ = ("scale",)

    def __init__(self, scale=2):
        self.scale = _scale_pair(scale)


class UpsampleNearest(_UpsampleParams):
    """x (N, C, H, W) -> (N, C, H * sh, W * sw) by repeating pixels."""

    def make_node(self, x):
        (x,) = float_inputs(x)
        check_rank("UpsampleNearest", "x", x, 4, "(N, C, H, W)")
        n, c, h, w = x.type.shape
        sh, sw = self.scale
        shape = (n, c, None if h is None else h * sh, None if w is None else w * sw)
        return Apply(self, [x], [tensor(dtype=x.type.dtype, shape=shape)])

    def perform(self, node, inputs, outputs):
        sh, sw = self.scale
        outputs[0][0] = inputs[0].repeat(sh, axis=2).repeat(sw, axis=3)

    def infer_shape(self, fgraph, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, h * self.scale[0], w * self.scale[1])]

    def pullback(self, inputs, outputs, cotangents):
        return [UpsampleNearestGrad(self.scale)(cotangents[0])]


class UpsampleNearestGrad(_UpsampleParams):
    """gy (N, C, H * sh, W * sw) -> (N, C, H, W): the sum of each (sh, sw) block."""

    def make_node(self, gy):
        (gy,) = float_inputs(gy)
        check_rank("UpsampleNearestGrad", "gy", gy, 4, "(N, C, H, W)")
        n, c, h, w = gy.type.shape
        sh, sw = self.scale
        for size, s, axis in ((h, sh, "H"), (w, sw, "W")):
            if size is not None and size % s:
                raise ValueError(
                    f"UpsampleNearestGrad: {axis}={size} of gy shape {gy.type.shape} not divisible by {s}"
                )
        shape = (n, c, None if h is None else h // sh, None if w is None else w // sw)
        return Apply(self, [gy], [tensor(dtype=gy.type.dtype, shape=shape)])

    def perform(self, node, inputs, outputs):
        (gy,) = inputs
        n, c, h, w = gy.shape
        sh, sw = self.scale
        outputs[0][0] = np.ascontiguousarray(gy.reshape(n, c, h // sh, sh, w // sw, sw).sum(axis=(3, 5)))

    def infer_shape(self, fgraph, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, h // self.scale[0], w // self.scale[1])]

    def pullback(self, inputs, outputs, cotangents):
        return [UpsampleNearest(self.scale)(cotangents[0])]


def upsample_nearest(x, scale=2):
    """Nearest-neighbour upsampling of x (N, C, H, W) by an integer factor (or a pair (sh, sw))."""
    return UpsampleNearest(scale)(x)


@jax_funcify.register(UpsampleNearest)
def _jax_upsample_nearest(op, node=None, **kwargs):
    sh, sw = op.scale

    def upsample(x):
        n, c, h, w = x.shape
        return jnp.broadcast_to(x[:, :, :, None, :, None], (n, c, h, sh, w, sw)).reshape(n, c, h * sh, w * sw)

    return upsample


@jax_funcify.register(UpsampleNearestGrad)
def _jax_upsample_nearest_grad(op, node=None, **kwargs):
    sh, sw = op.scale

    def grad(gy):
        n, c, h, w = gy.shape
        return gy.reshape(n, c, h // sh, sh, w // sw, sw).sum(axis=(3, 5))

    return grad
