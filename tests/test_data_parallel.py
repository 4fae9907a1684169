"""Data parallel training (yolo_lib.parallel): two simulated CPU devices give the weights of one.

The comparison runs in a subprocess (tests/data_parallel_worker.py) because
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` must be set before JAX is imported.
Tolerance: measured max |difference| after 3 steps on the 2-core CPU sandbox was ~1e-7-scale
float rounding (different reduction order of the all-reduce); 1e-5 absolute leaves room while a
per-device BN statistic or an unsummed gradient gives differences many orders larger.
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
TOL = 1e-5


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
    assert r["max_param_change"] > 100 * TOL, r  # the steps did move the weights
    assert r["max_abs_diff"] < TOL, r
    for a, b in zip(r["losses_one"], r["losses_two"]):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-4)


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
