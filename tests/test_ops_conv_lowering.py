"""Every conv lowering candidate equals the original ``lax`` lowering on every YOLO11n conv shape
(forward, input gradient, weight gradient), and the dispatch picks only exact candidates."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.ops.conv_shapes import conv_inventory
from yolo_lib.model import build_yolo11
from yolo_lib.ops import Conv2d
from yolo_lib.ops.conv_lowering import LOWERINGS, applicable, choose, conv_shape, jax_lowering

KINDS = ("forward", "grad_input", "grad_weight")


def _inventories():
    """(shape at 320 px batch 8, where the choice is made; the same layer at 64 px batch 1)."""
    model = build_yolo11("n", nc=2, seed=0, init=False)
    full, small = conv_inventory(model, 8, 320, 320), conv_inventory(model, 1, 64, 64)
    assert [(a.shape.w, a.shape.stride, a.shape.groups, a.count) for a in full] == \
           [(b.shape.w, b.shape.stride, b.shape.groups, b.count) for b in small]
    return list(zip(full, small))


PAIRS = _inventories()


@pytest.mark.parametrize("pair", PAIRS, ids=[f.shape.label() for f, _ in PAIRS])
def test_every_candidate_matches_lax(pair):
    full, small = pair
    s = small.shape
    params = dict(stride=s.stride, padding=s.padding, dilation=s.dilation, groups=s.groups)
    rng = np.random.default_rng(0)
    x = rng.normal(size=s.x).astype(np.float32)
    w = (rng.normal(size=s.w) / np.sqrt(np.prod(s.w[1:]))).astype(np.float32)
    y = np.asarray(jax.jit(LOWERINGS["forward"]["lax"](params))(x, w))
    gy = rng.normal(size=y.shape).astype(np.float32)
    args = {"forward": (x, w), "grad_input": (w, gy, x), "grad_weight": (x, gy, w)}
    names = {k: [n for n in LOWERINGS[k] if applicable(k, n, s)] for k in KINDS}
    for kind in KINDS:  # the choice made at 320 px is one of the candidates tested here
        assert choose(kind, full.shape) in names[kind]

    @jax.jit
    def all_candidates():
        return {k: {n: LOWERINGS[k][n](params)(*args[k]) for n in names[k]} for k in KINDS}

    out = all_candidates()
    for kind in KINDS:
        ref = np.asarray(out[kind]["lax"])
        scale = np.abs(ref).max()
        for name, value in out[kind].items():
            value = np.asarray(value)
            assert value.shape == ref.shape, (kind, name)
            err = np.abs(value - ref).max() / scale
            assert err < 2e-6 * max(1.0, np.sqrt(np.prod(s.x) / s.x[1])), f"{kind}/{name}: rel. error {err:.1e}"


def test_gpu_and_unknown_shapes_keep_lax():
    op = Conv2d(1, 0)
    shape = conv_shape(op, (1, 8, 4, 4), (8, 8, 1, 1))
    assert all(choose(kind, shape, backend="gpu") == "lax" for kind in KINDS)
    assert jax_lowering("forward", op, None) is not None  # no node: the lax lowering


def test_taps_rejects_general_groups():
    op = Conv2d(1, 1, groups=2)
    assert not applicable("grad_weight", "taps", conv_shape(op, (1, 8, 4, 4), (8, 4, 3, 3)))
