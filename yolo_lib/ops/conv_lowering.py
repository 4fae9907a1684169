"""How the Conv2d Ops lower to JAX: candidate lowerings and the per-shape choice.

Every conv layer of a training step runs three computations: the forward ``y = conv(x, w)``,
the input gradient ``gx`` and the weight gradient ``gw``. Each has several exact JAX
formulations whose speed on XLA's CPU backend depends on the shape. This module holds the
candidates and a small dispatch table, :func:`choose`, used by the JAX lowering of
:class:`yolo_lib.ops.conv.Conv2d`, ``Conv2dGradInput`` and ``Conv2dGradWeight``.

Shapes: x (N, C, H, W), w (O, C // groups, kh, kw), y / gy (N, O, Ho, Wo), all NCHW float32.

Candidates (``LOWERINGS[kind][name]``, each a builder ``(params) -> jax function``):

forward (x, w) -> y
    ``lax``       ``lax.conv_general_dilated`` in NCHW/OIHW (the original lowering).
    ``nhwc``      the same convolution on NHWC/HWIO copies, transposed back.
    ``dot``       1x1, stride 1, no padding, groups 1: one matrix product ``w @ x`` over C.
    ``taps``      depthwise: the sum over kernel taps of w[:, 0, i, j] times that tap's window.
grad_input (w, gy) -> gx
    ``lax``       the transpose of the forward conv (``jax.linear_transpose``): XLA's
                  transposed convolution (the original lowering).
    ``dot``       1x1, stride 1, no padding, groups 1: ``w.T @ gy`` over O.
    ``taps``      depthwise: each tap's ``gy * w[:, 0, i, j]`` padded (strided) back into place.
grad_weight (x, gy) -> gw
    ``lax``       the transpose of the forward conv w.r.t. w: XLA's conv with the batch as
                  contraction dimension (the original lowering).
    ``dot``       1x1, stride 1, no padding, groups 1: ``gy @ x.T`` over (N, H, W).
    ``taps``      one matrix product per kernel tap: for each (i, j) the strided window of the
                  padded x that tap sees, contracted with gy over (N, Ho, Wo) -> (O, C);
                  groups 1 only (depthwise: an elementwise product and a sum per tap).

The choice (:data:`RULES`, first match wins) was measured with
``benchmarks/bench_conv_layers.py`` on every YOLO11n conv shape (nc=2, 320 px, batch 8,
2-core CPU; see docs/benchmarks.md); a rule is only there where it was faster than ``lax``.
On other backends (GPU) the original ``lax`` lowering is kept: cuDNN handles all of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from .precision import conv_dtype, with_operands_in


@dataclass(frozen=True)
class ConvShape:
    """Static description of one convolution: what the lowering choice depends on."""

    x: tuple[int, int, int, int]  # (N, C, H, W)
    w: tuple[int, int, int, int]  # (O, C // groups, kh, kw)
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    groups: int

    @property
    def kernel(self) -> tuple[int, int]:
        return self.w[2], self.w[3]

    @property
    def is_pointwise(self) -> bool:
        """1x1 kernel, stride 1, no padding, no groups: a plain matrix product over channels."""
        return (self.kernel == (1, 1) and self.stride == (1, 1) and self.groups == 1
                and self.padding == ((0, 0), (0, 0)))

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.w[1] == 1

    def label(self) -> str:
        n, c, h, w = self.x
        kh, kw = self.kernel
        g = f" g{self.groups}" if self.groups > 1 else ""
        return f"{kh}x{kw} s{self.stride[0]}{g} {c}->{self.w[0]} @{h}x{w}"


def conv_shape(op, x_shape, w_shape) -> ConvShape:
    """ConvShape from a conv Op's static parameters and static input shapes."""
    return ConvShape(tuple(int(s) for s in x_shape), tuple(int(s) for s in w_shape),
                     op.stride, op.padding, op.dilation, op.groups)


# --- forward -------------------------------------------------------------------------------------


def _lax_forward(p):
    import jax

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, window_strides=p["stride"], padding=p["padding"], rhs_dilation=p["dilation"],
            dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=p["groups"])

    return conv


def _nhwc_forward(p):
    import jax

    def conv(x, w):
        y = jax.lax.conv_general_dilated(
            x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), window_strides=p["stride"],
            padding=p["padding"], rhs_dilation=p["dilation"],
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=p["groups"])
        return y.transpose(0, 3, 1, 2)

    return conv


def _dot_forward(p):
    import jax.numpy as jnp

    def conv(x, w):
        return jnp.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)

    return conv


def _taps_forward(p):
    """Depthwise: y = sum over taps of w[:, 0, i, j] * (the window of tap (i, j))."""

    def conv(x, w):
        o, _, kh, kw = w.shape
        n, c, h, wd = x.shape
        (sh, sw), ((t, b), (l, r)), (dh, dw) = p["stride"], p["padding"], p["dilation"]
        ho, wo = (h + t + b - dh * (kh - 1) - 1) // sh + 1, (wd + l + r - dw * (kw - 1) - 1) // sw + 1
        return sum(w[None, :, 0, i, j, None, None] * win for i, j, win in _tap_windows(p, x, kh, kw, ho, wo))

    return conv


# --- input gradient ------------------------------------------------------------------------------


def _transpose_of(forward, p, arg):
    """Gradient of the forward conv w.r.t. argument ``arg`` (0: x, 1: w) as its linear transpose:
    only the transposed computation is emitted, nothing of the forward."""
    import jax

    conv = forward(p)

    def grad(other, gy, like):
        shape = jax.ShapeDtypeStruct(like.shape, gy.dtype)
        f = (lambda v: conv(v, other)) if arg == 0 else (lambda v: conv(other, v))
        return jax.linear_transpose(f, shape)(gy)[0]

    return grad


def _lax_grad_input(p):
    grad = _transpose_of(_lax_forward, p, 0)
    return lambda w, gy, x: grad(w, gy, x)


def _dot_grad_input(p):
    import jax.numpy as jnp

    return lambda w, gy, x: jnp.einsum("oc,nohw->nchw", w[:, :, 0, 0], gy)


def _taps_grad_input(p):
    """Depthwise: each tap's gy * w[:, 0, i, j] placed (strided) where that tap read x, summed."""
    import jax
    import jax.numpy as jnp

    def grad(w, gy, x):
        o, _, kh, kw = w.shape
        n, c, h, wd = x.shape
        ho, wo = gy.shape[2:]
        (sh, sw), ((t, b), (l, r)), (dh, dw) = p["stride"], p["padding"], p["dilation"]
        hp, wp = h + t + b, wd + l + r
        zero = jnp.zeros((), gy.dtype)
        total = None
        for i in range(kh):
            for j in range(kw):
                hi, wj = hp - (i * dh + sh * (ho - 1) + 1), wp - (j * dw + sw * (wo - 1) + 1)
                tap = jax.lax.pad(gy * w[None, :, 0, i, j, None, None], zero,
                                  ((0, 0, 0), (0, 0, 0), (i * dh, hi, sh - 1), (j * dw, wj, sw - 1)))
                total = tap if total is None else total + tap
        return total[:, :, t: t + h, l: l + wd]

    return grad


# --- weight gradient -----------------------------------------------------------------------------


def _lax_grad_weight(p):
    grad = _transpose_of(_lax_forward, p, 1)
    return lambda x, gy, w: grad(x, gy, w)


def _dot_grad_weight(p):
    import jax.numpy as jnp

    return lambda x, gy, w: jnp.einsum("nohw,nchw->oc", gy, x)[:, :, None, None]


def _tap_windows(p, x, kh, kw, ho, wo):
    """[(i, j, window)] with window (N, C, Ho, Wo): the padded x as seen by kernel tap (i, j)."""
    import jax.numpy as jnp

    (sh, sw), ((t, b), (l, r)), (dh, dw) = p["stride"], p["padding"], p["dilation"]
    xp = jnp.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    return [(i, j, xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw])
            for i in range(kh) for j in range(kw)]


def _taps_grad_weight(p):
    import jax.numpy as jnp

    def grad(x, gy, w):
        o, cg, kh, kw = w.shape
        ho, wo = gy.shape[2:]
        if p["groups"] == 1:
            taps = [jnp.einsum("nohw,nchw->oc", gy, win) for _, _, win in _tap_windows(p, x, kh, kw, ho, wo)]
        elif cg == 1 and o == x.shape[1]:  # depthwise
            taps = [(gy * win).sum(axis=(0, 2, 3))[:, None] for _, _, win in _tap_windows(p, x, kh, kw, ho, wo)]
        else:
            raise NotImplementedError("taps weight gradient: groups must be 1 or depthwise")
        return jnp.stack(taps, axis=-1).reshape(o, cg, kh, kw)

    return grad


#: kind -> lowering name -> builder(params) -> jax function
LOWERINGS = {
    "forward": {"lax": _lax_forward, "nhwc": _nhwc_forward, "dot": _dot_forward, "taps": _taps_forward},
    "grad_input": {"lax": _lax_grad_input, "dot": _dot_grad_input, "taps": _taps_grad_input},
    "grad_weight": {"lax": _lax_grad_weight, "dot": _dot_grad_weight, "taps": _taps_grad_weight},
}


def applicable(kind: str, name: str, shape: ConvShape) -> bool:
    """Whether lowering ``name`` of ``kind`` is exact for ``shape``."""
    if name == "dot":
        return shape.is_pointwise
    depthwise = shape.is_depthwise and shape.w[0] == shape.x[1]
    if name == "taps":
        return depthwise or (kind == "grad_weight" and shape.groups == 1)
    return name in LOWERINGS[kind]


#: (kind, predicate on ConvShape, lowering) in order; the first match wins, else "lax".
#: Measured on the 2-core CPU at 320 px, batch 8 (docs/benchmarks.md, bench_conv_layers.py):
#: XLA's CPU conv is slowest on weight gradients (1x1: 5-20x slower than a matrix product;
#: depthwise: 5-20x slower than nine elementwise products) and on depthwise convs in general.
RULES: list = [
    ("forward", lambda s: s.is_pointwise, "dot"),
    ("grad_input", lambda s: s.is_pointwise, "dot"),
    ("grad_weight", lambda s: s.is_pointwise, "dot"),
    ("forward", lambda s: s.is_depthwise, "taps"),
    ("grad_input", lambda s: s.is_depthwise, "taps"),
    ("grad_weight", lambda s: s.is_depthwise, "taps"),
    # 3x3 stride 1 with at least as many outputs as inputs: 1.2-6x faster as nine matrix products
    ("grad_weight", lambda s: s.groups == 1 and s.stride == (1, 1) and s.w[0] >= s.x[1], "taps"),
]


def choose(kind: str, shape: ConvShape, backend: str = "cpu") -> str:
    """The lowering name for ``kind`` ('forward', 'grad_input', 'grad_weight') of ``shape``."""
    if backend == "cpu":
        for rule_kind, predicate, name in RULES:
            if rule_kind == kind and predicate(shape) and applicable(kind, name, shape):
                return name
    return "lax"


def build(kind: str, name: str, op) -> callable:
    """The JAX function of lowering ``name`` for ``kind``, for a conv Op's static parameters."""
    return LOWERINGS[kind][name](op.params())


def jax_lowering(kind: str, op, node=None) -> callable:
    """The JAX function for a conv Op's ``jax_funcify``: the choice for this backend and the
    node's static shapes (``lax`` when a shape is unknown). Input order as the Op's:
    forward (x, w), grad_input (w, gy, x), grad_weight (x, gy, w).

    Inside :func:`yolo_lib.ops.precision.tracing_precision` ``("bfloat16")`` the two operands are
    rounded to bfloat16 and ``taps`` is replaced by ``lax``: ``taps`` sums its kernel taps
    elementwise, which in bfloat16 would round after every tap, where a convolution or a matrix
    product accumulates in float32."""
    import jax

    dtype = conv_dtype()
    name = "lax"
    if node is not None:
        ins = node.inputs
        x, w = (ins[2], ins[0]) if kind == "grad_input" else (ins[0], ins[1] if kind == "forward" else ins[2])
        if None not in x.type.shape + w.type.shape:
            name = choose(kind, conv_shape(op, x.type.shape, w.type.shape), jax.default_backend())
    if dtype is None:
        return build(kind, name, op)
    return with_operands_in(dtype, build(kind, "lax" if name == "taps" else name, op))
