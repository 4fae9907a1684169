"""2-D max pooling over NCHW with -inf padding (PyTorch semantics), as PyTensor Ops.

``MaxPool2d(x) -> y``: x (N, C, H, W) -> (N, C, Ho, Wo), ``Ho = (H + top + bottom - kh) // sh + 1``.
Padding uses -inf, so a padded border never wins over a negative input value. The gradient Op
``MaxPool2dGrad(x, gy) -> gx`` routes each output gradient to the arg-max of its window (the
first one on ties) and sums where windows overlap; its own gradient uses ``MaxPool2dSelect``
(read a tensor at each window's arg-max). JAX lowering: ``lax.reduce_window``, its vjp
(``select_and_scatter_add``) and its jvp.
"""

from __future__ import annotations

import jax
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.tensor.basic import zeros_like
from pytensor.tensor.type import tensor

from ._params import check_rank, check_window_fits, out_len, padding_pairs, pair
from ._tensor import float_inputs


class _PoolParams(Op):
    __props__ = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", 1)
        self.padding = padding_pairs(padding)

    def params(self) -> dict:
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def out_hw(self, h, w):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (None if h is None else out_len(h, kh, sh, ph)), (
            None if w is None else out_len(w, kw, sw, pw)
        )

    def windows(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> windows of the -inf padded input (N, C, Ho, Wo, kh, kw), a view."""
        ((t, b), (l, r)), (sh, sw) = self.padding, self.stride
        xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=-np.inf)
        return sliding_window_view(xp, self.kernel_size, axis=(2, 3))[:, :, ::sh, ::sw]

    def argmax_index(self, x: np.ndarray) -> np.ndarray:
        """(N, C, Ho, Wo) flat index, into the padded (N, C, H + t + b, W + l + r) array, of each
        window's maximum (the first one, row-major, on ties, as in PyTorch)."""
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), ((t, b), (l, r)) = self.kernel_size, self.stride, self.padding
        win = self.windows(x)
        ho, wo = win.shape[2:4]
        arg = win.reshape(n, c, ho, wo, kh * kw).argmax(axis=-1)
        hp, wp = h + t + b, w + l + r
        rows = np.arange(ho)[:, None] * sh + arg // kw
        cols = np.arange(wo)[None, :] * sw + arg % kw
        return np.arange(n * c).reshape(n, c, 1, 1) * (hp * wp) + rows * wp + cols


class MaxPool2d(_PoolParams):
    """y = max over each (kh, kw) window: x (N, C, H, W) -> (N, C, Ho, Wo)."""

    def make_node(self, x):
        (x,) = float_inputs(x)
        check_rank("MaxPool2d", "x", x, 4, "(N, C, H, W)")
        check_window_fits("MaxPool2d", x.type.shape, self.kernel_size, self.padding)
        n, c, h, w = x.type.shape
        return Apply(self, [x], [tensor(dtype=x.type.dtype, shape=(n, c, *self.out_hw(h, w)))])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.ascontiguousarray(self.windows(inputs[0]).max(axis=(-2, -1)))

    def infer_shape(self, fgraph, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, *self.out_hw(h, w))]

    def pullback(self, inputs, outputs, cotangents):
        return [MaxPool2dGrad(**self.params())(inputs[0], cotangents[0])]


class MaxPool2dGrad(_PoolParams):
    """gx: each gradient of ``gy`` (N, C, Ho, Wo) added at the arg-max of its window in x (N, C, H, W)."""

    def make_node(self, x, gy):
        x, gy = float_inputs(x, gy)
        return Apply(self, [x, gy], [tensor(dtype=x.type.dtype, shape=x.type.shape)])

    def perform(self, node, inputs, outputs):
        x, gy = inputs
        n, c, h, w = x.shape
        ((t, b), (l, r)) = self.padding
        hp, wp = h + t + b, w + l + r
        gxp = np.bincount(self.argmax_index(x).ravel(), weights=gy.ravel(), minlength=n * c * hp * wp)
        gx = gxp.reshape(n, c, hp, wp)[:, :, t : t + h, l : l + w]
        outputs[0][0] = np.ascontiguousarray(gx, dtype=node.outputs[0].type.dtype)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, cotangents):
        x, gy = inputs
        (ggx,) = cotangents
        # piecewise constant in x; linear in gy, its transpose reads ggx at each window's arg-max
        return [zeros_like(x), MaxPool2dSelect(**self.params())(x, ggx)]


class MaxPool2dSelect(_PoolParams):
    """v (N, C, H, W) read at the arg-max of each max-pool window of x -> (N, C, Ho, Wo).

    The transpose of ``MaxPool2dGrad`` in its second argument (second-order max-pool gradients).
    """

    def make_node(self, x, v):
        x, v = float_inputs(x, v)
        n, c, h, w = x.type.shape
        return Apply(self, [x, v], [tensor(dtype=x.type.dtype, shape=(n, c, *self.out_hw(h, w)))])

    def perform(self, node, inputs, outputs):
        x, v = inputs
        ((t, b), (l, r)) = self.padding
        vp = np.pad(v, ((0, 0), (0, 0), (t, b), (l, r)))
        selected = vp.ravel()[self.argmax_index(x)]
        outputs[0][0] = np.ascontiguousarray(selected, dtype=node.outputs[0].type.dtype)

    def infer_shape(self, fgraph, node, shapes):
        n, c, h, w = shapes[0]
        return [(n, c, *self.out_hw(h, w))]

    def pullback(self, inputs, outputs, cotangents):
        x, v = inputs
        return [zeros_like(x), MaxPool2dGrad(**self.params())(x, cotangents[0])]


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling of x (N, C, H, W); stride defaults to kernel_size; padding counts as -inf."""
    return MaxPool2d(kernel_size, stride, padding)(x)


def _lax_max_pool(op: _PoolParams):
    def pool(x):
        return jax.lax.reduce_window(
            x,
            np.array(
                -np.inf, dtype=x.dtype
            ),  # a concrete identity: JAX then uses the differentiable max-pool primitive
            jax.lax.max,
            (1, 1, *op.kernel_size),
            (1, 1, *op.stride),
            ((0, 0), (0, 0), *op.padding),
        )

    return pool


@jax_funcify.register(MaxPool2d)
def _jax_max_pool2d(op, node=None, **kwargs):
    return _lax_max_pool(op)


@jax_funcify.register(MaxPool2dGrad)
def _jax_max_pool2d_grad(op, node=None, **kwargs):
    pool = _lax_max_pool(op)

    def grad(x, gy):
        return jax.vjp(pool, x)[1](gy)[0]

    return grad


@jax_funcify.register(MaxPool2dSelect)
def _jax_max_pool2d_select(op, node=None, **kwargs):
    pool = _lax_max_pool(op)

    def select(x, v):
        # the max pool's derivative in direction v picks v at each window's arg-max
        return jax.jvp(pool, (x,), (v,))[1]

    return select
