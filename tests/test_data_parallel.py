"""Data parallel training (yolo_lib.compilation.parallel, Trainer(devices=)): two simulated CPU devices train like one.

The comparison runs in a subprocess (tests/data_parallel_worker.py) because
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be set before JAX is imported: the
Trainer for one epoch of the TINY shapes (4 iterations, 2 optimizer steps, batch 2 = one image
per device) on one device, on two, and on one device from initial weights perturbed by 1e-6
relative (``noisy``). The two-device state cannot equal the one-device state bitwise (the
gradient and BN-statistic sums are reduced in another order), and these first steps from a
random init at batch 2 amplify any difference by one to two orders of magnitude per optimizer
step, a perturbation of the weights by 1e-6 just the same (docs/benchmarks.md, "Data parallel";
benchmarks/data_parallel_drift.py). So the yardstick is that run: every state group (weights,
BN statistics, momentum, EMA) of the two-device run must be closer to the one-device run than
the noisy run is (measured 2026-12-02: 5.6x closer for weights, momentum and EMA, 11x for BN
statistics), and the weights' difference must stay under a tenth of how far they moved
(measured: 2.4 %). Per-device BN statistics (of one image instead of two) would change every
update at its own scale, not at the 1e-6 level.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yolo_lib.compilation.parallel import check_batch_divides, data_mesh

WORKER = Path(__file__).with_name("data_parallel_worker.py")
GROUPS = ("model", "bn_stat", "momentum", "ema")


def test_two_devices_train_like_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(r)  # the measured differences, with pytest -s
    assert r["jax_devices"] == 2
    assert r["odd_batch_error"] == ("batch 3 does not divide by the 2 devices; use a batch that is a multiple of 2 "
                                    "or another device count (--devices)")
    assert [r[f"summary_{k}"]["devices"] for k in ("one", "two", "noisy")] == [1, 2, 1]
    assert r["param_devices"] == 2 and r["batch_shards"] == [1, 1]  # replicated weights, half a batch each
    assert r["iterations"] == 4 and r["optimizer_steps"] == 2
    assert r["checkpoint_numpy"]  # sharded values gathered to plain numpy
    two, noisy = r["diff_two"], r["diff_noisy"]
    assert two["model"] < 0.1 * r["max_param_change"], r  # the steps moved the weights far more than they differ
    for group in GROUPS:
        assert two[group] < noisy[group], (group, two, noisy)
    assert two["grad_sum"] == noisy["grad_sum"] == 0.0  # the epoch ended with an optimizer step
    assert r["losses_one"] == pytest.approx(r["losses_two"], rel=1e-3, abs=1e-6)


def test_batch_must_divide_by_devices():
    class TwoDeviceMesh:  # the shape is all the check reads
        shape = {"data": 2}

    check_batch_divides(4, TwoDeviceMesh())
    check_batch_divides(3, None)
    with pytest.raises(ValueError, match="does not divide by the 2 devices"):
        check_batch_divides(3, TwoDeviceMesh())


def test_data_mesh_rejects_more_devices_than_present():
    import jax

    assert data_mesh().shape["data"] == len(jax.devices())
    with pytest.raises(ValueError, match="JAX sees"):
        data_mesh(len(jax.devices()) + 1)


def test_a_mode_reused_for_a_second_function_keeps_its_mesh():
    import jax
    import numpy as np
    import pytensor
    import pytensor.tensor as pt
    from jax.sharding import NamedSharding

    from yolo_lib.compilation import modes

    mode = modes.training(mesh=data_mesh(), batch_inputs=1)
    x = pt.vector("x", dtype="float32", shape=(4,))
    for expr, want in ((x * 2, [0, 2, 4, 6]), (x + 1, [1, 2, 3, 4])):
        f = pytensor.function([x], expr, mode=mode)
        assert f.maker.linker.mesh is not None
        out = f(np.arange(4, dtype=np.float32))
        np.testing.assert_array_equal(np.asarray(out), want)
        compiled = f.maker.linker.jitted.lower(np.zeros(4, np.float32)).compile()
        (sharding,) = jax.tree.leaves(compiled.output_shardings)
        assert isinstance(sharding, NamedSharding) and sharding.mesh.shape == mode.linker.mesh.shape
