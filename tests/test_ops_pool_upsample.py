"""MaxPool2d and UpsampleNearest: JAX == numpy perform == reference, -inf borders, bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from ops_reference import MODES, lax_max_pool

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.ops import MaxPool2d, UpsampleNearest, max_pool2d, upsample_nearest

# id: x shape, kernel, stride, padding
POOLS = {
    "k2_s2": ((2, 3, 8, 6), 2, None, 0),
    "k3_s2_p1_odd": ((2, 3, 7, 9), 3, 2, 1),
    "k5_s1_p2_sppf": ((1, 4, 6, 5), 5, 1, 2),
    "nonsquare_asym_pad": ((1, 2, 7, 6), (3, 2), (1, 2), ((1, 0), (0, 1))),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(POOLS))
def test_max_pool_forward_and_gradient_match_lax(name, mode):
    shape, kernel, stride, padding = POOLS[name]
    op = MaxPool2d(kernel, stride, padding)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    ref = lax_max_pool(x, op.kernel_size, op.stride, op.padding)
    cot = np.random.default_rng(1).normal(size=ref.shape).astype("float32")
    ref_gx = jax.grad(lambda a: (lax_max_pool(a, op.kernel_size, op.stride, op.padding) * cot).sum())(x)

    X = pt.tensor("X", dtype="float32", shape=(None, shape[1], None, None))
    C = pt.tensor("C", dtype="float32", shape=(None,) * 4)
    Y = op(X)
    y, gx = pytensor.function([X, C], [Y, pytensor.grad((Y * C).sum(), X)], mode=MODES[mode])(x, cot)
    np.testing.assert_array_equal(np.asarray(y), ref)
    np.testing.assert_allclose(np.asarray(gx), ref_gx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", list(MODES))
def test_max_pool_negative_values_at_border_ignore_padding(mode):
    """With all-negative input, zero padding would leak 0 into border windows; -inf must not."""
    x = -1.0 - np.arange(2 * 5 * 5, dtype="float32").reshape(1, 2, 5, 5)
    X = pt.tensor("X", dtype="float32", shape=x.shape)
    Y = max_pool2d(X, 3, stride=2, padding=1)
    y, gx = pytensor.function([X], [Y, pytensor.grad(Y.sum(), X)], mode=MODES[mode])(x)
    y, gx = np.asarray(y), np.asarray(gx)
    assert y.shape == (1, 2, 3, 3)
    assert (y < 0).all()
    np.testing.assert_array_equal(y[0, 0], [[-1, -2, -4], [-6, -7, -9], [-16, -17, -19]])
    # each window's maximum is its top-left valid element; gradient 1 there, overlaps add up
    assert gx.sum() == y.size
    assert gx[0, 0, 0, 0] == 1 and gx[0, 0, 0, 1] == 1 and gx[0, 0, 1, 1] == 1


def test_max_pool_static_shapes_and_attributes():
    Y = max_pool2d(pt.tensor(dtype="float32", shape=(None, 8, 20, 20)), 5, stride=1, padding=2)
    assert Y.type.shape == (None, 8, 20, 20)
    op = Y.owner.op
    assert (op.kernel_size, op.stride, op.padding) == ((5, 5), (1, 1), ((2, 2), (2, 2)))
    assert max_pool2d(pt.tensor(dtype="float32", shape=(1, 1, 7, 7)), 2).type.shape == (1, 1, 3, 3)


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((4, 8, 8), dict(kernel_size=2), r"x must be 4-D .*\(4, 8, 8\)"),
        ((1, 1, 3, 3), dict(kernel_size=5, padding=0), r"kernel extent 5 .* 3\+0\+0 .*\(1, 1, 3, 3\)"),
        ((1, 1, 8, 8), dict(kernel_size=0), "kernel_size must be >= 1"),
        ((1, 1, 8, 8), dict(kernel_size=2, padding="SAME"), "only explicit padding"),
    ],
)
def test_max_pool_bad_input(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        max_pool2d(pt.tensor(dtype="float32", shape=shape), **kwargs)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("scale", [2, (2, 3), 1])
def test_upsample_forward_and_block_sum_gradient(scale, mode):
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")
    cot = np.random.default_rng(1).normal(size=(2, 3, 5 * sh, 4 * sw)).astype("float32")
    X = pt.tensor("X", dtype="float32", shape=(None, 3, None, None))
    C = pt.tensor("C", dtype="float32", shape=(None,) * 4)
    Y = upsample_nearest(X, scale)
    y, gx = pytensor.function([X, C], [Y, pytensor.grad((Y * C).sum(), X)], mode=MODES[mode])(x, cot)
    np.testing.assert_array_equal(np.asarray(y), x.repeat(sh, axis=2).repeat(sw, axis=3))
    np.testing.assert_allclose(
        np.asarray(gx), cot.reshape(2, 3, 5, sh, 4, sw).sum(axis=(3, 5)), rtol=1e-6, atol=1e-6
    )


def test_upsample_static_shape_and_attribute():
    Y = upsample_nearest(pt.tensor(dtype="float32", shape=(None, 256, 10, 10)), 2)
    assert Y.type.shape == (None, 256, 20, 20)
    assert Y.owner.op.scale == (2, 2) and isinstance(Y.owner.op, UpsampleNearest)
    assert upsample_nearest(pt.tensor(dtype="float32", shape=(1, 1, 2, 2)), 2.0).owner.op.scale == (2, 2)


@pytest.mark.parametrize("scale", [1.5, 0, -2, "2", (2, 2.5), (2, 2, 2), True])
def test_upsample_non_integer_scale_raises(scale):
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        upsample_nearest(pt.tensor(dtype="float32", shape=(1, 1, 2, 2)), scale)


def test_upsample_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"x must be 4-D .*\(3, 4\)"):
        upsample_nearest(pt.tensor(dtype="float32", shape=(3, 4)))


def test_upsample_matches_ultralytics_layer11(reference):
    """YOLO11n layer 11 is nn.Upsample(scale_factor=2, mode='nearest') of layer 10."""
    X = pt.tensor("X", dtype="float32", shape=(None, *reference["eval/layer10"].shape[1:]))
    f = pytensor.function([X], upsample_nearest(X, 2), mode="JAX")
    for mode in ("eval", "train"):
        np.testing.assert_array_equal(
            np.asarray(f(reference[f"{mode}/layer10"])), reference[f"{mode}/layer11"]
        )


@pytest.mark.parametrize("mode", list(MODES))
def test_max_pool_ties_route_to_first_maximum(mode):
    """Like PyTorch, a window with several equal maxima sends its gradient to the first (row-major)."""
    x = np.zeros((1, 1, 4, 4), dtype="float32")
    X = pt.tensor("X", dtype="float32", shape=(None, 1, 4, 4))
    Y = max_pool2d(X, 2)
    gx = np.asarray(pytensor.function([X], pytensor.grad(Y.sum(), X), mode=MODES[mode])(x))
    np.testing.assert_array_equal(gx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_max_pool_gradients_agree_across_backends_with_many_ties():
    x = np.random.default_rng(0).integers(0, 3, size=(2, 3, 9, 8)).astype("float32")
    X = pt.tensor("X", dtype="float32", shape=(None, 3, 9, 8))
    Y = max_pool2d(X, 5, stride=1, padding=2)
    cot = np.random.default_rng(1).normal(size=x.shape).astype("float32")
    grads = [
        np.asarray(pytensor.function([X], pytensor.grad((Y * cot).sum(), X), mode=m)(x))
        for m in MODES.values()
    ]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", list(MODES))
def test_max_pool_select_reads_values_at_the_arg_max(mode):
    """MaxPool2dSelect (used by second-order gradients) == the max pool's jvp in direction v."""
    from yolo_lib.ops import MaxPool2dSelect

    shape, kernel, stride, padding = POOLS["nonsquare_asym_pad"]
    op = MaxPool2dSelect(kernel, stride, padding)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    v = np.random.default_rng(1).normal(size=shape).astype("float32")
    ref = jax.jvp(lambda a: lax_max_pool(a, op.kernel_size, op.stride, op.padding), (x,), (v,))[1]
    X, V = (pt.tensor(dtype="float32", shape=(None, shape[1], None, None)) for _ in range(2))
    np.testing.assert_array_equal(
        np.asarray(pytensor.function([X, V], op(X, V), mode=MODES[mode])(x, v)), ref
    )
