"""2-D convolution (cross-correlation, PyTorch/ONNX semantics) as PyTensor Ops.

``Conv2d(x, w)``: x (N, C, H, W), w (O, C // groups, kh, kw) -> y (N, O, Ho, Wo) with
``Ho = (H + top + bottom - dh * (kh - 1) - 1) // sh + 1`` (same for W).

Its gradients are two further Ops so that XLA sees exactly three convolutions per layer:
``Conv2dGradInput(w, gy, x) -> gx`` and ``Conv2dGradWeight(x, gy, w) -> gw``; the third input
only donates its (static) shape. Each Op has a vectorised numpy ``perform`` (default backends,
float64 gradient checks) and a JAX lowering chosen per backend and shape by
:mod:`yolo_lib.ops.conv_lowering` (``jax.lax.conv_general_dilated`` unless a faster exact form exists).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.jax.dispatch import jax_funcify
from pytensor.tensor.type import tensor

from ._params import check_rank, check_window_fits, out_len, padding_pairs, pair
from ._tensor import float_inputs
from .conv_lowering import jax_lowering


class _ConvParams(Op):
    """Static parameters shared by the forward and gradient Ops."""

    __props__ = ("stride", "padding", "dilation", "groups")

    def __init__(self, stride=1, padding=0, dilation=1, groups=1):
        self.stride = pair(stride, "stride", 1)
        self.padding = padding_pairs(padding)
        self.dilation = pair(dilation, "dilation", 1)
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"groups must be a positive int, got {groups!r}")
        self.groups = int(groups)

    def params(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def out_hw(self, h, w, kh, kw):
        """(Ho, Wo) for input (h, w) and kernel (kh, kw); ints or symbolic scalars."""
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return out_len(h, kh, sh, ph, dh), out_len(w, kw, sw, pw, dw)

    def windows(self, x: np.ndarray, kh: int, kw: int) -> np.ndarray:
        """x (N, C, H, W) -> strided, dilated windows of the padded input (N, C, Ho, Wo, kh, kw), a view."""
        (sh, sw), ((t, b), (l, r)), (dh, dw) = self.stride, self.padding, self.dilation
        xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
        win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
        return win[:, :, ::sh, ::sw, ::dh, ::dw]

    def check_shapes(self, x, w) -> None:
        """Graph-build-time checks of rank, channels/groups and kernel size (static dims only)."""
        name = type(self).__name__
        check_rank(name, "x", x, 4, "(N, C, H, W)")
        check_rank(name, "w", w, 4, "(O, C // groups, kh, kw)")
        _, c, _, _ = x.type.shape
        o, cg, kh, kw = w.type.shape
        g = self.groups
        if o is not None and o % g:
            raise ValueError(
                f"{name}: output channels {o} (w shape {w.type.shape}) not divisible by groups={g}"
            )
        if c is not None and c % g:
            raise ValueError(
                f"{name}: input channels {c} (x shape {x.type.shape}) not divisible by groups={g}"
            )
        if c is not None and cg is not None and c != cg * g:
            raise ValueError(
                f"{name}: x has {c} channels (shape {x.type.shape}) but w of shape {w.type.shape} "
                f"with groups={g} expects {cg * g}"
            )
        check_window_fits(name, x.type.shape, (kh, kw), self.padding, self.dilation)


class Conv2d(_ConvParams):
    """y = conv2d(x, w): x (N, C, H, W), w (O, C // groups, kh, kw) -> (N, O, Ho, Wo)."""

    def make_node(self, x, w):
        x, w = float_inputs(x, w)
        self.check_shapes(x, w)
        n, _, h, wd = x.type.shape
        o, _, kh, kw = w.type.shape
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        ho = None if h is None or kh is None else out_len(h, kh, sh, ph, dh)
        wo = None if wd is None or kw is None else out_len(wd, kw, sw, pw, dw)
        return Apply(self, [x, w], [tensor(dtype=x.type.dtype, shape=(n, o, ho, wo))])

    def perform(self, node, inputs, outputs):
        x, w = inputs
        g = self.groups
        o, cg, kh, kw = w.shape
        win = self.windows(x, kh, kw)
        n, _, ho, wo = win.shape[:4]
        win = win.reshape(n, g, cg, ho, wo, kh, kw)
        y = np.einsum("ngchwij,gocij->ngohw", win, w.reshape(g, o // g, cg, kh, kw), optimize=True)
        outputs[0][0] = np.ascontiguousarray(y.reshape(n, o, ho, wo), dtype=node.outputs[0].type.dtype)

    def infer_shape(self, fgraph, node, shapes):
        (n, _, h, wd), (o, _, kh, kw) = shapes
        return [(n, o, *self.out_hw(h, wd, kh, kw))]

    def pullback(self, inputs, outputs, cotangents):
        x, w = inputs
        (gy,) = cotangents
        return [Conv2dGradInput(**self.params())(w, gy, x), Conv2dGradWeight(**self.params())(x, gy, w)]


class _ConvGrad(_ConvParams):
    """A gradient Op (operand, gy, like) -> array of ``like``'s shape: the third input only supplies
    the shape (no gradient flows to it), the output takes the operand's dtype."""

    def make_node(self, operand, gy, like):
        operand, gy, like = float_inputs(operand, gy, like)
        return Apply(self, [operand, gy, like], [tensor(dtype=operand.type.dtype, shape=like.type.shape)])

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[2]]


class Conv2dGradInput(_ConvGrad):
    """gx = d(sum(gy * conv2d(x, w))) / dx, a transposed convolution: inputs (w, gy, x); x only
    supplies its shape."""

    def perform(self, node, inputs, outputs):
        w, gy, x = inputs
        g = self.groups
        o, cg, kh, kw = w.shape
        n, c, h, wd = x.shape
        (sh, sw), ((t, b), (l, r)), (dh, dw) = self.stride, self.padding, self.dilation
        ho, wo = gy.shape[2:]
        dwin = np.einsum(
            "ngohw,gocij->ngchwij",
            gy.reshape(n, g, o // g, ho, wo),
            w.reshape(g, o // g, cg, kh, kw),
            optimize=True,
        ).reshape(n, c, ho, wo, kh, kw)
        gxp = np.zeros((n, c, h + t + b, wd + l + r), dtype=node.outputs[0].type.dtype)
        for i in range(kh):  # one strided scatter per kernel tap (kh * kw of them), not per pixel
            for j in range(kw):
                gxp[
                    :, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw
                ] += dwin[..., i, j]
        outputs[0][0] = np.ascontiguousarray(gxp[:, :, t : t + h, l : l + wd])

    def pullback(self, inputs, outputs, cotangents):
        w, gy, x = inputs
        (ggx,) = cotangents
        p = self.params()
        return [Conv2dGradWeight(**p)(ggx, gy, w), Conv2d(**p)(ggx, w), disconnected_type()]


class Conv2dGradWeight(_ConvGrad):
    """gw = d(sum(gy * conv2d(x, w))) / dw, a correlation of x with gy: inputs (x, gy, w); w only
    supplies its shape."""

    def perform(self, node, inputs, outputs):
        x, gy, w = inputs
        g = self.groups
        o, cg, kh, kw = w.shape
        win = self.windows(x, kh, kw)
        n, _, ho, wo = win.shape[:4]
        gw = np.einsum(
            "ngohw,ngchwij->gocij",
            gy.reshape(n, g, o // g, ho, wo),
            win.reshape(n, g, cg, ho, wo, kh, kw),
            optimize=True,
        )
        outputs[0][0] = np.ascontiguousarray(gw.reshape(o, cg, kh, kw), dtype=node.outputs[0].type.dtype)

    def pullback(self, inputs, outputs, cotangents):
        x, gy, w = inputs
        (ggw,) = cotangents
        p = self.params()
        return [Conv2dGradInput(**p)(ggw, gy, x), Conv2d(**p)(x, ggw), disconnected_type()]


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """NCHW convolution: x (N, C, H, W), w (O, C // groups, kh, kw) -> (N, O, Ho, Wo).

    padding: int | (ph, pw) | ((top, bottom), (left, right)), always explicit zero padding.
    """
    return Conv2d(stride, padding, dilation, groups)(x, w)


# --- JAX lowering: chosen per backend and shape in conv_lowering ---------------------------------


@jax_funcify.register(Conv2d)
def _jax_conv2d(op, node=None, **kwargs):
    return jax_lowering("forward", op, node)


@jax_funcify.register(Conv2dGradInput)
def _jax_conv2d_grad_input(op, node=None, **kwargs):
    return jax_lowering("grad_input", op, node)


@jax_funcify.register(Conv2dGradWeight)
def _jax_conv2d_grad_weight(op, node=None, **kwargs):
    return jax_lowering("grad_weight", op, node)
