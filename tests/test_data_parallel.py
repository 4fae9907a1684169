"""Data parallel training (yolo_lib.parallel): two simulated CPU devices give the weights of one.

The comparison runs in a subprocess (tests/data_parallel_worker.py) because
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be set before JAX is imported.
Tolerances, from runs on the 2-core CPU sandbox (docs/benchmarks.md, "Data parallel"): after the
first step every parameter, BN statistic and momentum buffer agrees to float32 rounding
(measured 4.6e-5 abs at most, on a momentum buffer = summed gradient; BN statistics 7e-7:
STEP1_TOL 1e-4, BN_TOL 1e-5); the two halves of the batch differ in brightness, so per-device BN statistics or a
gradient of half the batch would differ by orders of magnitude more. Later steps drift apart
faster than rounding (the assigner's top-k choices flip on tiny differences and lr 0.01 from a
random start amplifies them), so there only the losses are compared (LOSS_RTOL; measured
1.2e-4 and 2.8e-4 relative at steps 2 and 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from yolo_lib.parallel import check_batch_divides, data_mesh

WORKER = Path(__file__).with_name("data_parallel_worker.py")
STEP1_TOL = 1e-4
BN_TOL = 1e-5
LOSS_RTOL = 2e-3


def test_two_devices_match_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(r)  # the measured differences, with pytest -s
    assert r["jax_devices"] == 2
    assert len(r["devices_one"]) == 1 and len(r["devices_two"]) == 2, r  # parameters live on both devices
    assert r["batch_shards"] == [2, 2]  # batch_sharding: half a batch per device
    assert r["n_bn_stats"] > 0
    assert r["max_param_change"] > 100 * STEP1_TOL, r  # the steps did move the weights
    assert r["max_abs_diff_per_step"][0] < STEP1_TOL, r
    assert r["max_abs_diff_bn_stats_per_step"][0] < BN_TOL, r
    assert r["losses_one"][0] == pytest.approx(r["losses_two"][0], rel=1e-5)
    for a, b in zip(r["losses_one"], r["losses_two"]):
        assert a == pytest.approx(b, rel=LOSS_RTOL)


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

    from yolo_lib import modes

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
