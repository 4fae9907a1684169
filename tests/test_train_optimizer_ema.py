"""SGD (groups, decay, Nesterov, clipping, accumulation) against hand-written NumPy; EMA after k updates."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

import yolo_lib  # noqa: F401
from yolo_lib.train.ema import EMA
from yolo_lib.train.optimizer import SGD, param_group

PY = Mode(linker="py", optimizer="fast_compile")  # tiny arrays: no C or XLA compilation
NAMES = ("model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias", "model.23.cv2.0.2.bias")
SHAPES = ((3, 2, 3, 3), (3,), (3,), (4,))


def _params(rng):
    return {n: pytensor.shared(rng.normal(size=s).astype(np.float32), name=n, shape=s) for n, s in zip(NAMES, SHAPES)}


def test_param_groups():
    assert [param_group(n) for n in NAMES] == ["weight", "bn", "bias", "bias"]


def numpy_sgd(p, bufs, grads, lr_w, lr_b, mom, wd, max_norm):
    """PyTorch clip_grad_norm_ + SGD(momentum, nesterov) with per-group decay, written out."""
    norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads.values()))
    coef = min(max_norm / (norm + 1e-6), 1.0)
    new_p, new_b = {}, {}
    for n in p:
        d = grads[n] * coef + (wd * p[n] if param_group(n) == "weight" else 0)
        new_b[n] = mom * bufs[n] + d
        lr = lr_b if param_group(n) == "bias" else lr_w
        new_p[n] = p[n] - lr * (d + mom * new_b[n])
    return new_p, new_b


@pytest.mark.parametrize("max_norm", [10.0, 0.5])  # 0.5: clipping active
def test_sgd_accumulate_then_step_matches_numpy(max_norm):
    rng = np.random.default_rng(0)
    params = _params(rng)
    sgd = SGD(params, weight_decay=0.05, max_grad_norm=max_norm)
    gs = [pt.tensor(dtype="float32", shape=s, name=f"g{i}") for i, s in enumerate(SHAPES)]
    lr_w, lr_b, mom = (pt.scalar(n, dtype="float32") for n in ("a", "b", "c"))
    do = pt.scalar("do", dtype="bool")
    updates, _ = sgd.updates(gs, lr_w, lr_b, mom, do)
    fn = pytensor.function([*gs, lr_w, lr_b, mom, do], [], updates=updates, mode=PY)

    p = {n: v.get_value() for n, v in params.items()}
    bufs = {n: np.zeros(s, np.float32) for n, s in zip(NAMES, SHAPES)}
    for k in range(3):  # two accumulated batches, one step; twice
        g1 = {n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
        g2 = {n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
        lrs = (np.float32(0.01 * (k + 1)), np.float32(0.1 / (k + 1)), np.float32(0.8 + 0.05 * k))
        before = {n: v.get_value() for n, v in params.items()}
        fn(*g1.values(), *lrs, np.bool_(False))
        for n in NAMES:  # no step yet: parameters unchanged, sums hold g1
            np.testing.assert_array_equal(params[n].get_value(), before[n])
            np.testing.assert_allclose(sgd.grad_sums[n].get_value(), g1[n], rtol=1e-6)
        fn(*g2.values(), *lrs, np.bool_(True))
        total = {n: g1[n] + g2[n] for n in NAMES}
        p, bufs = numpy_sgd(p, bufs, total, *(float(v) for v in lrs), 0.05, max_norm)
        for n in NAMES:
            np.testing.assert_allclose(params[n].get_value(), p[n], rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(sgd.momentum_buffers[n].get_value(), bufs[n], rtol=2e-5, atol=1e-6)
            assert not sgd.grad_sums[n].get_value().any()


def test_sgd_state_roundtrip():
    rng = np.random.default_rng(1)
    params = _params(rng)
    a, b = SGD(params, 0.0), SGD(params, 0.0)
    a.momentum_buffers[NAMES[0]].set_value(np.ones(SHAPES[0], np.float32))
    a.last_step, a.steps = 41, 7
    b.load_state_dict(a.state_dict())
    assert b.last_step == 41 and b.steps == 7
    np.testing.assert_array_equal(b.momentum_buffers[NAMES[0]].get_value(), 1.0)


def test_ema_after_k_updates():
    rng = np.random.default_rng(2)
    params = _params(rng)
    ema = EMA(params, decay=0.9999, tau=2000.0)
    new = {n: pt.tensor(dtype="float32", shape=s, name=f"new{i}") for i, (n, s) in enumerate(zip(NAMES, SHAPES))}
    d, do = pt.scalar("d", dtype="float32"), pt.scalar("do", dtype="bool")
    fn = pytensor.function([*new.values(), d, do], [], updates=ema.symbolic_updates(new, d, do), mode=PY)
    expect = {n: v.get_value().astype(np.float64) for n, v in params.items()}
    for k in range(1, 6):
        values = {n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
        skip = {n: rng.normal(size=s).astype(np.float32) for n, s in zip(NAMES, SHAPES)}
        fn(*skip.values(), np.float32(0.5), np.bool_(False))  # not an optimizer step: EMA unchanged
        decay = ema.decay(k)
        assert decay == pytest.approx(0.9999 * (1 - np.exp(-k / 2000)))
        fn(*values.values(), np.float32(decay), np.bool_(True))
        expect = {n: decay * expect[n] + (1 - decay) * values[n] for n in NAMES}
    for n in NAMES:
        np.testing.assert_allclose(ema.values[n].get_value(), expect[n], rtol=1e-5, atol=1e-6)
