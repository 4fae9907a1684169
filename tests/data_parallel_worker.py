"""The Trainer on one device, on a two-device mesh and on one device from perturbed weights; print
the differences of their final states as JSON.

Run by tests/test_data_parallel.py in a fresh process with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (the flag must be set before JAX is
imported). All runs use tests/train_worker.py's TINY shapes (64 px, batch 2: one image per device
on the mesh, so per-device BN statistics or gradients would differ grossly) for one epoch (4
iterations, 2 optimizer steps: one epoch has no warm-up, so accumulate is 2 from the start) on
the same batches from the same initial weights, except ``noisy``: one device, its initial
weights times ``1 + NOISE * N(0, 1)``, the yardstick for how far rounding-sized differences grow
in these steps (benchmarks/data_parallel_drift.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile

import numpy as np

import yolo_lib  # noqa: F401  (floatX=float32)
from train_worker import TINY
from yolo_lib.train import Trainer, synthetic_source

CFG = dataclasses.replace(TINY, epochs=1)  # 4 iterations (8 images, batch 2), optimizer steps at 1 and 3
NOISE = 1e-6


def state(t: Trainer) -> dict:
    """Every array of the trainer's checkpoint, by (group, name); BN statistics their own group."""
    ckpt = t.checkpoint()
    groups = {"model": ckpt["model"], "momentum": ckpt["optimizer"]["momentum"],
              "grad_sum": ckpt["optimizer"]["grad_sum"], "ema": ckpt["ema"]["values"]}
    return {("bn_stat" if ".running_" in n else g, n): v for g, d in groups.items() for n, v in d.items()}


def max_diff(a: dict, b: dict) -> dict:
    """Largest |a - b| per group."""
    out = {}
    for (g, n), v in a.items():
        out[g] = max(out.get(g, 0.0), float(np.abs(np.float64(v) - b[(g, n)]).max()))
    return out


def perturb(t: Trainer, rng) -> None:
    for name, var in t.model.params.items():
        w = var.get_value()
        w = (w * (1 + NOISE * rng.standard_normal(w.shape))).astype(np.float32)
        var.set_value(w)
        t.ema.values[name].set_value(w)  # the EMA starts as a copy of the model


def main() -> None:
    import jax

    source = synthetic_source(CFG.n_train, CFG.n_val, progress=False)
    out = {"jax_devices": len(jax.devices())}
    try:
        Trainer(dataclasses.replace(CFG, batch=3), source, tempfile.mkdtemp(), progress=False, devices=2)
    except ValueError as e:
        out["odd_batch_error"] = str(e)
    runs, states, initial = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, devices in (("one", 1), ("two", 2), ("noisy", 1)):
            t = Trainer(CFG, source, f"{tmp}/{name}", progress=False, devices=devices, log=lambda *a: None)
            t.build()
            if name == "noisy":
                perturb(t, np.random.default_rng(1))
            initial[name] = {n: np.asarray(v.get_value()) for n, v in t.model.params.items()}
            summary = t.fit()
            runs[name], states[name] = t, state(t)
            out[f"summary_{name}"] = summary
            out[f"losses_{name}"] = [t.history[-1][f"train/{k}_loss"] for k in ("box", "cls", "dfl")]
        two = runs["two"]
        batch = next(two.loader.epoch(0))
        put = two.step.put(batch.images, batch.boxes, batch.classes, batch.mask)
    first = next(iter(two.model.params.values())).get_value(borrow=True)
    out.update({
        "iterations": two.iteration, "optimizer_steps": two.sgd.steps,
        "param_devices": len(first.devices()),
        "batch_shards": sorted(s.data.shape[0] for s in put[0].addressable_shards),
        "checkpoint_numpy": all(type(v) is np.ndarray for s in states.values() for v in s.values()),
        "diff_two": max_diff(states["one"], states["two"]),
        "diff_noisy": max_diff(states["one"], states["noisy"]),
        "max_param_change": max(float(np.abs(states["one"][("model", n)] - v).max())
                                for n, v in initial["one"].items()),
    })
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
