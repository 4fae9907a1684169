"""Conv2d and its gradient Ops: JAX == numpy perform == jax.lax, shapes, HLO, bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from ops_reference import MODES, lax_conv, max_abs_diff
from pytensor.link.jax.dispatch import jax_funcify

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.ops import Conv2d, Conv2dGradInput, Conv2dGradWeight, conv2d

# id: x shape, (O, kh, kw), stride, padding, dilation, groups
CONFIGS = {
    "3x3_s1_p1": ((2, 4, 7, 8), (6, 3, 3), 1, 1, 1, 1),
    "3x3_s2_p1_odd": ((2, 4, 9, 7), (6, 3, 3), 2, 1, 1, 1),
    "dilation2": ((1, 3, 9, 10), (4, 3, 3), 1, 2, 2, 1),
    "groups2_s2": ((2, 4, 7, 8), (6, 3, 3), 2, 1, 1, 2),
    "depthwise_nonsquare_asym_pad": ((1, 4, 9, 6), (4, 3, 2), (2, 1), ((1, 0), (0, 2)), (2, 1), 4),
    "1x1": ((2, 3, 5, 5), (5, 1, 1), 1, 0, 1, 1),
    "5x5_s2_groups3": ((1, 6, 11, 10), (6, 5, 5), 2, 2, 1, 3),
}
TOL = dict(rtol=1e-5, atol=1e-5)


def _data(xs, o, kh, kw, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=xs).astype("float32")
    w = (rng.normal(size=(o, xs[1] // groups, kh, kw)) / np.sqrt(kh * kw * xs[1] // groups)).astype("float32")
    return x, w


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_conv_forward_and_gradients_match_lax(name, mode):
    xs, (o, kh, kw), stride, padding, dilation, groups = CONFIGS[name]
    op = Conv2d(stride, padding, dilation, groups)
    x, w = _data(xs, o, kh, kw, groups)
    ref = lax_conv(x, w, op.stride, op.padding, op.dilation, groups)
    cot = np.random.default_rng(1).normal(size=ref.shape).astype("float32")
    ref_gx, ref_gw = jax.grad(
        lambda a, b: (lax_conv(a, b, op.stride, op.padding, op.dilation, groups) * cot).sum(), (0, 1)
    )(x, w)

    X = pt.tensor("X", dtype="float32", shape=(None, xs[1], None, None))  # unknown batch and size
    W = pt.tensor("W", dtype="float32", shape=(None,) * 4)
    C = pt.tensor("C", dtype="float32", shape=(None,) * 4)
    Y = op(X, W)
    gX, gW = pytensor.grad((Y * C).sum(), [X, W])
    y, gx, gw = pytensor.function([X, W, C], [Y, gX, gW], mode=MODES[mode])(x, w, cot)
    assert np.asarray(y).shape == ref.shape
    np.testing.assert_allclose(np.asarray(y), ref, **TOL)
    np.testing.assert_allclose(np.asarray(gx), ref_gx, **TOL)
    np.testing.assert_allclose(np.asarray(gw), ref_gw, **TOL)


def test_jax_and_perform_agree_bitwise_close_on_grad_ops():
    """The gradient Ops evaluated directly (not through pullback) agree across backends."""
    xs, (o, kh, kw), stride, padding, dilation, groups = CONFIGS["depthwise_nonsquare_asym_pad"]
    p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, w = _data(xs, o, kh, kw, groups)
    gy = np.random.default_rng(2).normal(size=conv2d(x, w, **p).eval().shape).astype("float32")
    for op_cls, args in ((Conv2dGradInput, (w, gy, x)), (Conv2dGradWeight, (x, gy, w))):
        variables = [pt.tensor(dtype="float32", shape=a.shape) for a in args]
        out = op_cls(**p)(*variables)
        results = [np.asarray(pytensor.function(variables, out, mode=m)(*args)) for m in MODES.values()]
        assert max_abs_diff(*results) <= 1e-5, op_cls.__name__


def test_static_output_shape_and_infer_shape():
    X = pt.tensor("X", dtype="float32", shape=(8, 16, 64, 63))
    W = pt.tensor("W", dtype="float32", shape=(32, 16, 3, 3))
    assert conv2d(X, W, stride=2, padding=1).type.shape == (8, 32, 32, 32)
    assert conv2d(X, W, padding=((0, 1), (2, 0)), dilation=2).type.shape == (8, 32, 61, 61)
    assert Conv2dGradInput(stride=2, padding=1)(W, conv2d(X, W, 2, 1), X).type.shape == X.type.shape

    Xd = pt.tensor("Xd", dtype="float32", shape=(None, 16, None, None))
    Yd = conv2d(Xd, W, stride=2, padding=1)
    assert Yd.type.shape == (None, 32, None, None)
    shape_fn = pytensor.function([Xd, W], Yd.shape, on_unused_input="ignore")
    assert tuple(shape_fn(np.zeros((3, 16, 65, 33), "float32"), np.zeros((32, 16, 3, 3), "float32"))) == (
        3,
        32,
        33,
        17,
    )
    # the shape graph is answered by infer_shape, not by running the convolution
    assert not any(isinstance(n.op, Conv2d) for n in shape_fn.maker.fgraph.apply_nodes)


def _count_convolutions(outputs, inputs, args):
    f = pytensor.function(inputs, outputs, mode="JAX")
    hlo = jax.jit(jax_funcify(f.maker.fgraph)).lower(*args).as_text()
    return hlo.count("stablehlo.convolution")


def test_compiled_forward_backward_has_no_redundant_convolutions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 9, 9)).astype("float32")
    w1 = rng.normal(size=(6, 4, 3, 3)).astype("float32")
    w2 = rng.normal(size=(5, 6, 3, 3)).astype("float32")
    X = pt.tensor("X", dtype="float32", shape=x.shape)
    W1 = pt.tensor("W1", dtype="float32", shape=w1.shape)
    W2 = pt.tensor("W2", dtype="float32", shape=w2.shape)

    one = conv2d(X, W1, stride=2, padding=1)
    loss1 = (one**2).sum()
    # one layer, gradients for input and weight: forward + grad-input + grad-weight
    assert _count_convolutions([one, *pytensor.grad(loss1, [X, W1])], [X, W1], [x, w1]) == 3
    # weights only (a first layer): the input gradient is never built
    assert _count_convolutions([loss1, pytensor.grad(loss1, W1)], [X, W1], [x, w1]) == 2
    # two layers, weight gradients: 2 forward + 2 grad-weight + 1 grad-input (into layer 1's output)
    loss2 = (conv2d(one, W2, padding=1) ** 2).sum()
    assert _count_convolutions([loss2, *pytensor.grad(loss2, [W1, W2])], [X, W1, W2], [x, w1, w2]) == 5


def _sym(shape):
    return pt.tensor(dtype="float32", shape=shape)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, message",
    [
        ((3, 8, 8), (4, 3, 3, 3), {}, r"x must be 4-D .*shape \(3, 8, 8\)"),
        ((1, 3, 8, 8), (4, 3, 3), {}, r"w must be 4-D .*shape \(4, 3, 3\)"),
        ((1, 3, 8, 8), (4, 2, 3, 3), {}, r"x has 3 channels .*\(4, 2, 3, 3\)"),
        ((1, 4, 8, 8), (6, 2, 3, 3), {"groups": 4}, r"output channels 6 .* groups=4"),
        ((1, 6, 8, 8), (4, 3, 3, 3), {"groups": 4}, r"input channels 6 .* groups=4"),
        ((1, 3, 4, 8), (4, 3, 7, 3), {"padding": 1}, r"kernel extent 7 .* 4\+1\+1 .*\(1, 3, 4, 8\)"),
        ((1, 3, 5, 5), (4, 3, 3, 3), {"dilation": 3}, r"kernel extent 7 \(kernel 3, dilation 3\)"),
    ],
)
def test_bad_shapes_raise_at_graph_build(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv2d(_sym(x_shape), _sym(w_shape), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding": "SAME"}, "only explicit padding"),
        ({"stride": 0}, "stride must be >= 1"),
        ({"padding": -1}, "padding must be >= 0"),
        ({"stride": 1.5}, "stride must be an int"),
        ({"groups": 0}, "groups must be a positive int"),
        ({"padding": ((1, 2, 3), (0, 0))}, r"padding\[0\] must be an int or a pair"),
    ],
)
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv2d(_sym((1, 3, 8, 8)), _sym((4, 3, 3, 3)), **kwargs)


def test_op_attributes_for_exporters():
    op = conv2d(_sym((1, 4, 8, 8)), _sym((4, 1, 3, 3)), stride=2, padding=((0, 1), (1, 1)), groups=4).owner.op
    assert (op.stride, op.padding, op.dilation, op.groups) == ((2, 2), ((0, 1), (1, 1)), (1, 1), 4)


def test_chain_of_all_ops_with_unknown_batch_trains_in_jax():
    """conv (stride 2) -> BN -> SiLU -> max pool -> upsample -> sum, batch unknown (None).

    ``grad(sum(...))`` seeds the backward pass with an Alloc of the output shape, which PyTensor's
    JAX backend needs as concrete numbers: batch comes straight from the input; H and W here
    are static (with unknown H/W, the stride-2 output size is arithmetic on traced scalars, a
    limitation PyTensor's JAX backend has for concatenate and repeat as well).
    """
    from yolo_lib.ops import batch_norm_train, max_pool2d, silu, upsample_nearest

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 8, 8)).astype("float32")
    w = (rng.normal(size=(6, 4, 3, 3)) / 6).astype("float32")
    X = pt.tensor("X", dtype="float32", shape=(None, 4, 8, 8))
    W = pt.tensor("W", dtype="float32", shape=(6, 4, 3, 3))
    gamma, beta = pt.constant(np.linspace(0.5, 1.5, 6, dtype="float32")), pt.constant(np.zeros(6, "float32"))
    y = conv2d(X, W, stride=2, padding=1)
    y = silu(batch_norm_train(y, gamma, beta)[0])
    y = upsample_nearest(max_pool2d(y, 3, stride=1, padding=1), 2)
    assert y.type.shape == (None, 6, 8, 8)
    loss = (y * np.float32(0.1)).sum() + (y**2).sum()
    outs = [loss, *pytensor.grad(loss, [X, W])]
    results = [[np.asarray(v) for v in pytensor.function([X, W], outs, mode=m)(x, w)] for m in MODES.values()]
    for jax_value, perform_value in zip(*results):
        np.testing.assert_allclose(jax_value, perform_value, rtol=1e-4, atol=1e-4)


def test_gradients_keep_the_input_dtype_when_the_cotangent_is_float64():
    """A stray float64 upstream gradient must not promote float32 parameters' gradients."""
    from yolo_lib.ops import batch_norm_eval, batch_norm_train, max_pool2d, upsample_nearest

    x = pt.tensor("x", dtype="float32", shape=(2, 4, 8, 8))
    w = pt.tensor("w", dtype="float32", shape=(4, 4, 3, 3))
    v = pt.tensor("v", dtype="float32", shape=(4,))
    outputs = {
        "conv2d": conv2d(x, w, stride=2, padding=1),
        "max_pool2d": max_pool2d(x, 3, 2, 1),
        "upsample_nearest": upsample_nearest(x, 2),
        "batch_norm_train": batch_norm_train(x, v, v)[0],
        "batch_norm_eval": batch_norm_eval(x, v, v, v, v),
    }
    for name, y in outputs.items():
        c64 = pt.tensor("c64", dtype="float64", shape=y.type.shape)
        wrt = [x, w] if name == "conv2d" else [x, v] if name.startswith("batch") else [x]
        grads = pytensor.grad((y * c64).sum(), wrt)
        assert [g.type.dtype for g in grads] == ["float32"] * len(wrt), name
