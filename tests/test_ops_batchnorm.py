"""BatchNorm Ops: PyTorch numerics, analytic gradient == autodiff of the primitive formula,
running statistics, parity with a real Ultralytics SPPF block, bad input.

Finite-difference checks (float64) live in tests/test_ops_verify_grad.py.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from ops_reference import MODES, max_abs_diff, torch_style_batch_norm_train

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.ops import (
    BatchNormEval,
    BatchNormTrain,
    batch_norm_eval,
    batch_norm_train,
    conv2d,
    max_pool2d,
    running_stat_updates,
    silu,
)

RNG = np.random.default_rng(0)
X_VAL = (RNG.normal(size=(3, 4, 5, 6)) * 2 + 1).astype("float32")
GAMMA = RNG.normal(size=4).astype("float32")
BETA = RNG.normal(size=4).astype("float32")
COT = RNG.normal(size=X_VAL.shape).astype("float32")


def _vars():
    return (
        pt.tensor("x", dtype="float32", shape=(None, 4, None, None)),
        pt.tensor("gamma", dtype="float32", shape=(4,)),
        pt.tensor("beta", dtype="float32", shape=(4,)),
    )


def _primitive_batch_norm_train(x, gamma, beta, eps=1e-3):
    """The same maths from PyTensor primitives; pytensor.grad differentiates it automatically."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    y = (x - mean) / pt.sqrt(var + np.float32(eps))
    return y * gamma.dimshuffle("x", 0, "x", "x") + beta.dimshuffle("x", 0, "x", "x")


@pytest.mark.parametrize("mode", list(MODES))
def test_train_forward_matches_pytorch_formula(mode):
    x, g, b = _vars()
    outs = pytensor.function([x, g, b], list(batch_norm_train(x, g, b)), mode=MODES[mode])(X_VAL, GAMMA, BETA)
    ref = torch_style_batch_norm_train(X_VAL.astype("float64"), GAMMA, BETA, eps=1e-3)
    for name, got, want in zip(("y", "batch_mean", "batch_var_unbiased"), outs, ref):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5, err_msg=name)
        assert np.asarray(got).dtype == np.float32


@pytest.mark.parametrize("mode", list(MODES))
def test_analytic_gradient_equals_autodiff_of_primitive_formula(mode):
    x, g, b = _vars()
    y_op = batch_norm_train(x, g, b)[0]
    y_prim = _primitive_batch_norm_train(x, g, b)
    grads_op = pytensor.grad((y_op * COT).sum(), [x, g, b])
    grads_prim = pytensor.grad((y_prim * COT).sum(), [x, g, b])
    f = pytensor.function([x, g, b], grads_op + grads_prim, mode=MODES[mode])
    values = [np.asarray(v) for v in f(X_VAL, GAMMA, BETA)]
    for name, analytic, autodiff in zip(("x", "gamma", "beta"), values[:3], values[3:]):
        scale = np.abs(autodiff).max()
        assert max_abs_diff(analytic, autodiff) <= 2e-5 * max(scale, 1.0), name


def test_gradient_through_batch_statistics_outputs():
    """Cotangents on batch_mean and the unbiased variance flow back into x as well."""
    x, g, b = _vars()
    y, mean, var = batch_norm_train(x, g, b)
    w_mean, w_var = np.float32([1, -2, 3, 0.5]), np.float32([0.3, 1, -1, 2])
    loss_op = (y * COT).sum() + (mean * w_mean).sum() + (var * w_var).sum()
    xm = x.mean(axis=(0, 2, 3))
    m = pt.cast(x.shape[0] * x.shape[2] * x.shape[3], "float32")
    var_unbiased = ((x - xm.dimshuffle("x", 0, "x", "x")) ** 2).sum(axis=(0, 2, 3)) / (m - 1)
    loss_prim = (
        (_primitive_batch_norm_train(x, g, b) * COT).sum()
        + (xm * w_mean).sum()
        + (var_unbiased * w_var).sum()
    )
    f = pytensor.function(
        [x, g, b], pytensor.grad(loss_op, [x, g, b]) + pytensor.grad(loss_prim, [x, g, b]), mode="JAX"
    )
    values = [np.asarray(v) for v in f(X_VAL, GAMMA, BETA)]
    for analytic, autodiff in zip(values[:3], values[3:]):
        np.testing.assert_allclose(analytic, autodiff, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("mode", list(MODES))
def test_eval_forward_and_gradients(mode):
    x, g, b = _vars()
    rm, rv = pt.tensor("rm", dtype="float32", shape=(4,)), pt.tensor("rv", dtype="float32", shape=(4,))
    rm_val, rv_val = np.float32([0.5, -1, 0, 2]), np.float32([1, 0.25, 4, 2])
    y = batch_norm_eval(x, g, b, rm, rv)
    bc = lambda v: v.dimshuffle("x", 0, "x", "x")  # noqa: E731
    y_prim = (x - bc(rm)) / pt.sqrt(bc(rv) + np.float32(1e-3)) * bc(g) + bc(b)
    inputs = [x, g, b, rm, rv]
    f = pytensor.function(
        inputs,
        [y, *pytensor.grad((y * COT).sum(), inputs), *pytensor.grad((y_prim * COT).sum(), inputs)],
        mode=MODES[mode],
    )
    values = [np.asarray(v) for v in f(X_VAL, GAMMA, BETA, rm_val, rv_val)]
    ref_y = (X_VAL - rm_val[:, None, None]) / np.sqrt(rv_val[:, None, None] + 1e-3) * GAMMA[
        :, None, None
    ] + BETA[:, None, None]
    np.testing.assert_allclose(values[0], ref_y, rtol=1e-5, atol=1e-5)
    for analytic, autodiff in zip(values[1:6], values[6:]):
        np.testing.assert_allclose(analytic, autodiff, rtol=1e-4, atol=1e-4)


def test_train_vs_eval_and_running_stat_updates():
    x, g, b = _vars()
    running_mean = pytensor.shared(np.zeros(4, "float32"), shape=(4,))
    running_var = pytensor.shared(np.ones(4, "float32"), shape=(4,))
    y_train, mean, var = batch_norm_train(x, g, b)
    y_eval = batch_norm_eval(x, g, b, running_mean, running_var)
    step = pytensor.function(
        [x, g, b],
        [y_train, y_eval],
        updates=running_stat_updates(running_mean, running_var, mean, var),
        mode="JAX",
    )
    y_t, y_e = step(X_VAL, GAMMA, BETA)
    # eval used the running stats *before* the update (zeros/ones): plain affine of x
    np.testing.assert_allclose(
        np.asarray(y_e),
        X_VAL / np.sqrt(1 + 1e-3) * GAMMA[:, None, None] + BETA[:, None, None],
        rtol=1e-5,
        atol=1e-5,
    )
    assert max_abs_diff(y_t, y_e) > 0.1
    np.testing.assert_allclose(
        np.asarray(running_mean.get_value()), 0.03 * X_VAL.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(running_var.get_value()), 0.97 + 0.03 * X_VAL.var(axis=(0, 2, 3), ddof=1), rtol=1e-5
    )
    assert np.asarray(running_mean.get_value()).dtype == np.float32


def test_ops_carry_eps_and_defaults():
    x, g, b = _vars()
    assert batch_norm_train(x, g, b)[0].owner.op == BatchNormTrain(1e-3)
    assert batch_norm_eval(x, g, b, g, b, eps=1e-5).owner.op.eps == 1e-5
    assert isinstance(batch_norm_eval(x, g, b, g, b).owner.op, BatchNormEval)


@pytest.mark.parametrize(
    "x_shape, vec_shape, message",
    [
        ((2, 4, 5), (4,), r"x must be 4-D .*\(2, 4, 5\)"),
        ((2, 4, 5, 5), (3,), r"gamma has shape \(3,\) but x of shape \(2, 4, 5, 5\) has C=4"),
        ((2, 4, 5, 5), (4, 1), r"gamma must be 1-D"),
        ((1, 4, 1, 1), (4,), r"more than one value per channel"),
    ],
)
def test_bad_input_raises(x_shape, vec_shape, message):
    x = pt.tensor(dtype="float32", shape=x_shape)
    v = pt.tensor(dtype="float32", shape=vec_shape)
    with pytest.raises(ValueError, match=message):
        batch_norm_train(x, v, v)


@pytest.mark.parametrize(
    "kwargs, message", [({"momentum": 1.5}, "momentum"), ({"momentum": -0.1}, "momentum")]
)
def test_running_stat_updates_rejects_bad_momentum(kwargs, message):
    v = pytensor.shared(np.zeros(4, "float32"))
    with pytest.raises(ValueError, match=message):
        running_stat_updates(v, v, v, v, **kwargs)


def _conv_bn_silu(x, sd, name, train, updates):
    """Ultralytics Conv block (conv k, no bias -> BN -> SiLU) for a 1x1 conv."""
    w = pytensor.shared(sd[f"{name}.conv.weight"])
    gamma, beta = pytensor.shared(sd[f"{name}.bn.weight"]), pytensor.shared(sd[f"{name}.bn.bias"])
    rm, rv = pytensor.shared(sd[f"{name}.bn.running_mean"]), pytensor.shared(sd[f"{name}.bn.running_var"])
    z = conv2d(x, w)
    if train:
        z, mean, var = batch_norm_train(z, gamma, beta)
        updates[name] = (rm, rv, running_stat_updates(rm, rv, mean, var))
    else:
        z = batch_norm_eval(z, gamma, beta, rm, rv)
    return silu(z)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_sppf_block_matches_ultralytics(reference, mode):
    """YOLO11n layer 9 (SPPF: 1x1 conv, three k5 max pools, concat, 1x1 conv) from the real fixture."""
    sd = {
        k.removeprefix("state_dict/model.9."): v
        for k, v in reference.items()
        if k.startswith("state_dict/model.9.")
    }
    x = pt.tensor("x", dtype="float32", shape=(None, *reference[f"{mode}/layer08"].shape[1:]))
    updates = {}
    a = _conv_bn_silu(x, sd, "cv1", mode == "train", updates)
    p1 = max_pool2d(a, 5, stride=1, padding=2)
    p2 = max_pool2d(p1, 5, stride=1, padding=2)
    p3 = max_pool2d(p2, 5, stride=1, padding=2)
    y = _conv_bn_silu(pt.concatenate([a, p1, p2, p3], axis=1), sd, "cv2", mode == "train", updates)
    flat_updates = [u for _, _, ups in updates.values() for u in ups]
    out = np.asarray(
        pytensor.function([x], y, updates=flat_updates, mode="JAX")(reference[f"{mode}/layer08"])
    )
    want = reference[f"{mode}/layer09"]
    assert max_abs_diff(out, want) <= 1e-4 * np.abs(want).max()
    if mode == "train":
        rm, rv, _ = updates["cv1"]
        after = "train/bn_after_forward/model.9.cv1.bn."
        np.testing.assert_allclose(
            np.asarray(rm.get_value()), reference[after + "running_mean"], rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(
            np.asarray(rv.get_value()), reference[after + "running_var"], rtol=1e-4, atol=1e-5
        )
