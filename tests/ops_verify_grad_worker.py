"""Finite-difference gradient checks (float64) of every yolo_lib.ops Op and option.

Run by tests/test_ops_verify_grad.py in a separate process with ``PYTENSOR_FLAGS=floatX=float64``
(float64 switches JAX to 64-bit mode for the whole process, so it must not share the float32
test process). Prints ``OK <check>`` per check and ``CHECKS <n>`` at the end; exits non-zero on
the first failure.
"""

from __future__ import annotations

import sys

import numpy as np
import pytensor
from pytensor.compile.mode import Mode
from pytensor.gradient import verify_grad

from yolo_lib.ops import (
    BatchNormEval,
    BatchNormTrain,
    Conv2d,
    Conv2dGradInput,
    Conv2dGradWeight,
    MaxPool2d,
    MaxPool2dGrad,
    MaxPool2dSelect,
    UpsampleNearest,
    UpsampleNearestGrad,
)

PERFORM = Mode(linker="py", optimizer="fast_compile")
RNG = np.random.default_rng(0)

# name: x shape, (O, kh, kw), stride, padding, dilation, groups
CONV = {
    "stride2_pad1": ((2, 3, 7, 6), (4, 3, 3), 2, 1, 1, 1),
    "dilation2": ((1, 2, 7, 8), (3, 3, 3), 1, 2, 2, 1),
    "groups2": ((1, 4, 5, 6), (6, 3, 3), 1, 1, 1, 2),
    "depthwise": ((2, 3, 6, 5), (3, 3, 3), 2, 1, 1, 3),
    "nonsquare_asym_pad_odd": ((1, 2, 7, 5), (3, 3, 2), (2, 1), ((1, 0), (0, 2)), (1, 2), 1),
}
POOL = {
    "k3_s2_p1": ((2, 2, 7, 6), 3, 2, 1),
    "k5_s1_p2": ((1, 2, 5, 6), 5, 1, 2),
    "nonsquare_asym_pad": ((1, 1, 7, 6), (3, 2), (1, 2), ((1, 0), (0, 1))),
}


def check(name, fun, values, mode=PERFORM):
    verify_grad(fun, values, rng=RNG, mode=mode)
    print("OK", name, flush=True)


def check_unknown_shapes(name, build, values, h=1e-6):
    """verify_grad gives its inputs static shapes; here every dimension is unknown (None).

    Compares <dL/dv, d> with the central difference (L(v + h d) - L(v - h d)) / 2h along a random
    direction d, for every input v, with L = sum(build(*inputs) * p) for a fixed random p.
    """
    inputs = [pytensor.tensor.tensor(dtype="float64", shape=(None,) * v.ndim) for v in values]
    out = build(*inputs)
    proj = pytensor.tensor.tensor(dtype="float64", shape=(None,) * out.ndim)
    loss = (out * proj).sum()
    f = pytensor.function([*inputs, proj], [loss, *pytensor.grad(loss, inputs)], mode=PERFORM)
    p = RNG.normal(size=pytensor.function(inputs, out.shape, mode=PERFORM)(*values))
    grads = f(*values, p)[1:]
    for i, (v, g) in enumerate(zip(values, grads)):
        d = RNG.normal(size=v.shape)
        plus, minus = list(values), list(values)
        plus[i], minus[i] = v + h * d, v - h * d
        numeric = (f(*plus, p)[0] - f(*minus, p)[0]) / (2 * h)
        analytic = float((g * d).sum())
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (name, i, numeric, analytic)
    print("OK", name, flush=True)


def main() -> int:
    assert pytensor.config.floatX == "float64", "run with PYTENSOR_FLAGS=floatX=float64"
    for name, (xs, (o, kh, kw), s, p, d, g) in CONV.items():
        op_args = (s, p, d, g)
        x = RNG.normal(size=xs)
        w = RNG.normal(size=(o, xs[1] // g, kh, kw))
        gy = RNG.normal(size=Conv2d(*op_args)(x, w).eval().shape)
        check(f"Conv2d[{name}]", lambda a, b: Conv2d(*op_args)(a, b), [x, w])
        check(f"Conv2dGradInput[{name}]", lambda a, b: Conv2dGradInput(*op_args)(a, b, x), [w, gy])
        check(f"Conv2dGradWeight[{name}]", lambda a, b: Conv2dGradWeight(*op_args)(a, b, w), [x, gy])
    xs, (o, kh, kw), s, p, d, g = CONV["nonsquare_asym_pad_odd"]
    check(
        "Conv2d[JAX float64]",
        lambda a, b: Conv2d(s, p, d, g)(a, b),
        [RNG.normal(size=xs), RNG.normal(size=(o, xs[1], kh, kw))],
        mode="JAX",
    )

    for name, (xs, k, s, p) in POOL.items():
        # distinct values, so no two window elements tie within the finite-difference step
        x = RNG.permutation(np.prod(xs)).reshape(xs) * 0.1 - 3.0
        check(f"MaxPool2d[{name}]", lambda a: MaxPool2d(k, s, p)(a), [x])
    # second order: MaxPool2dGrad is linear in gy; its transpose is MaxPool2dSelect
    xs, k, s, p = POOL["k3_s2_p1"]
    x = RNG.permutation(np.prod(xs)).reshape(xs) * 0.1 - 3.0
    gy = RNG.normal(size=MaxPool2d(k, s, p)(x).eval().shape)
    check("MaxPool2dGrad[second order]", lambda g: MaxPool2dGrad(k, s, p)(x, g), [gy])
    check("MaxPool2dGrad[JAX float64]", lambda g: MaxPool2dGrad(k, s, p)(x, g), [gy], mode="JAX")
    check("MaxPool2dSelect", lambda v: MaxPool2dSelect(k, s, p)(x, v), [RNG.normal(size=xs)])
    check(
        "MaxPool2d[JAX float64]",
        lambda a: MaxPool2d(3, 2, 1)(a),
        [RNG.permutation(60).reshape(1, 3, 4, 5) * 0.1],
        mode="JAX",
    )

    for scale in (2, (1, 3)):
        check(
            f"UpsampleNearest[{scale}]", lambda a: UpsampleNearest(scale)(a), [RNG.normal(size=(2, 2, 3, 4))]
        )
        check(
            f"UpsampleNearestGrad[{scale}]",
            lambda a: UpsampleNearestGrad(scale)(a),
            [RNG.normal(size=(2, 2, 6, 12))],
        )

    x = RNG.normal(size=(3, 4, 5, 2)) * 2 + 1
    gamma, beta = RNG.normal(size=4), RNG.normal(size=4)
    check("BatchNormTrain[y]", lambda a, b, c: BatchNormTrain(1e-3)(a, b, c)[0], [x, gamma, beta])

    def all_outputs(a, b, c):
        y, mean, var = BatchNormTrain(1e-3)(a, b, c)
        return y + 0.7 * mean.dimshuffle("x", 0, "x", "x") + 0.3 * var.dimshuffle("x", 0, "x", "x")

    check("BatchNormTrain[y, mean, var]", all_outputs, [x, gamma, beta])
    check("BatchNormTrain[JAX float64]", all_outputs, [x, gamma, beta], mode="JAX")
    running = [RNG.normal(size=4), RNG.uniform(0.5, 2.0, size=4)]
    check("BatchNormEval", lambda *a: BatchNormEval(1e-3)(*a), [x, gamma, beta, *running])

    check_unknown_shapes(
        "Conv2d[unknown shapes]",
        lambda a, b: Conv2d(2, 1, 1, 2)(a, b),
        [RNG.normal(size=(3, 4, 7, 6)), RNG.normal(size=(6, 2, 3, 3))],
    )
    check_unknown_shapes(
        "MaxPool2d[unknown shapes]",
        lambda a: MaxPool2d(3, 2, 1)(a),
        [RNG.permutation(3 * 2 * 7 * 6).reshape(3, 2, 7, 6) * 0.1],
    )
    check_unknown_shapes(
        "UpsampleNearest[unknown shapes]",
        lambda a: UpsampleNearest((2, 3))(a),
        [RNG.normal(size=(3, 2, 3, 4))],
    )
    check_unknown_shapes("BatchNormTrain[unknown shapes]", all_outputs, [x, gamma, beta])
    check_unknown_shapes(
        "BatchNormEval[unknown shapes]", lambda *a: BatchNormEval(1e-3)(*a), [x, gamma, beta, *running]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
