"""The cross-process cache of compiled functions: a cache hit computes what the miss computed,
applies the updates to the right shared variables, and a different key misses."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.compilation import step_cache
from yolo_lib.compilation.donating_linker import donating_jax_mode


def _graph():
    w = pytensor.shared(np.arange(6, dtype=np.float32).reshape(2, 3), name="w", shape=(2, 3))
    b = pytensor.shared(np.ones(3, np.float32), name="b", shape=(3,))
    calls = []

    def build():
        calls.append(1)
        x = pt.tensor("x", dtype="float32", shape=(4, 2))
        lr = pt.scalar("lr", dtype="float32")
        loss = ((x @ w + b) ** 2).mean()
        gw, gb = pytensor.grad(loss, [w, b])
        return [x, lr], [loss, gw], [(w, w - lr * gw), (b, b - lr * gb)]

    return {"w": w, "b": b}, build, calls


def test_hit_equals_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    results = []
    for expect_build in (1, 0):
        shared, build, calls = _graph()
        fn = step_cache.cached_function(("test", 1), build, shared, donating_jax_mode(include=("fast_compile", "jax")))
        assert len(calls) == expect_build
        outs = [np.asarray(v) for v in fn(x, 0.1)] + [np.asarray(v) for v in fn(x, 0.1)]
        results.append((outs, np.asarray(shared["w"].get_value()), np.asarray(shared["b"].get_value())))
    (o1, w1, b1), (o2, w2, b2) = results
    assert all(np.array_equal(a, b) for a, b in zip(o1, o2))
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    assert not np.array_equal(w1, np.arange(6, dtype=np.float32).reshape(2, 3))  # the update happened
    assert o1[2] < o1[0]  # and lowered the loss
    assert len(list((tmp_path / "step_cache").glob("*.bin"))) == 1
    shared, build, calls = _graph()
    step_cache.cached_function(("test", 2), build, shared, donating_jax_mode(include=("fast_compile", "jax")))
    assert calls == [1]


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YOLO_STEP_CACHE", "0")
    shared, build, calls = _graph()
    fn = step_cache.cached_function(("test", 3), build, shared, donating_jax_mode(include=("fast_compile", "jax")))
    fn(np.zeros((4, 2), np.float32), 0.1)
    assert calls == [1] and not (tmp_path / "step_cache").exists()


def test_one_xla_compile_across_calls_and_set_value(tmp_path, monkeypatch):
    """The updated shared values come back from XLA as committed device arrays; host values (the
    first call, a ``set_value``) must not change the call's signature and cost a second compile."""
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    shared, build, _ = _graph()
    fn = step_cache.cached_function(("test", 5), build, shared, donating_jax_mode(include=("fast_compile", "jax")))
    x = np.ones((4, 2), np.float32)
    fn(x, 0.1)
    fn(x, np.float32(0.1))
    shared["b"].set_value(np.zeros(3, np.float32))  # a host value again, as read_losses() resets its sums
    fn(x, 0.1)
    assert fn.jit._cache_size() == 1


def test_a_mesh_program_is_cached_under_its_own_key(tmp_path, monkeypatch):
    """A data-parallel mode (here a one-device mesh: the two-device case runs in
    tests/test_data_parallel.py) exports a sharded program under a key of its own; a hit on it
    computes what the plain program computes."""
    from jax.sharding import NamedSharding

    from yolo_lib.compilation.parallel import data_mesh

    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    results = []
    for mesh, expect_build in ((None, 1), (data_mesh(1), 1), (data_mesh(1), 0)):
        shared, build, calls = _graph()
        mode = donating_jax_mode(include=("fast_compile", "jax"), mesh=mesh, batch_inputs=1)
        fn = step_cache.cached_function(("test", 4), build, shared, mode)
        assert len(calls) == expect_build
        outs = fn(x, 0.1)
        if mesh is not None:
            assert isinstance(outs[0].sharding, NamedSharding) and outs[0].sharding.mesh.shape == mesh.shape
        results.append([np.asarray(v) for v in outs] + [np.asarray(shared["w"].get_value())])
    for r in results[1:]:
        assert all(np.allclose(a, b, rtol=1e-6) for a, b in zip(results[0], r))
    assert len(list((tmp_path / "step_cache").glob("*.bin"))) == 2
