"""Train a few steps on one device and on a two-device mesh; print the differences as JSON.

Run by tests/test_data_parallel.py in a fresh process with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (the flag must be set before JAX is
imported). Both steps (YOLO11n, nc=2, batch 4 at 64x64, identical initial weights) see the same
batches; the two halves of each batch differ in brightness, so BN statistics computed per device
instead of over the global batch would show up as a difference.
"""

from __future__ import annotations

import json

import numpy as np

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.loss import from_image_lists
from yolo_lib.model import build_yolo11
from yolo_lib.parallel import batch_sharding, data_mesh
from yolo_lib.train_step import TrainStep

BATCH, SIZE, MAX_BOXES, STEPS = 4, 64, 4, 3


def batches(seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        images = rng.uniform(0, 1, (BATCH, 3, SIZE, SIZE)).astype(np.float32)
        images[: BATCH // 2] *= 0.3  # first device's half darker than the second's
        boxes, classes = [], []
        for _ in range(BATCH):
            n = int(rng.integers(1, MAX_BOXES + 1))
            wh = rng.uniform(0.1, 0.5, (n, 2))
            boxes.append(np.concatenate([rng.uniform(wh / 2, 1 - wh / 2), wh], 1))
            classes.append(rng.integers(0, 2, n))
        yield images, from_image_lists(boxes, classes, max_boxes=MAX_BOXES)


def build(mesh):
    model = build_yolo11("n", nc=2, seed=0)
    return model, TrainStep(model, BATCH, (SIZE, SIZE), MAX_BOXES, mesh=mesh)


def state(model, step) -> dict:
    """Parameters, BN statistics and momentum buffers as float64 numpy arrays."""
    named = {**model.params, **model.buffers, **{f"momentum/{k}": v for k, v in step.momentum_buffers.items()}}
    return {k: np.asarray(v.get_value(), np.float64) for k, v in named.items()}


def devices(model) -> list[str]:
    first = next(iter(model.params.values())).get_value(borrow=True)
    return sorted(str(d) for d in getattr(first, "devices", lambda: [])())


def main() -> None:
    import jax

    mesh = data_mesh(2)
    (m1, s1), (m2, s2) = build(None), build(mesh)
    initial = state(m1, s1)
    losses_one, losses_two, diffs, bn_diffs = [], [], [], []
    for images, targets in batches():  # both variants step by step on the same batch
        losses_one.append(s1(images, targets, lr=0.01)["total"])
        losses_two.append(s2(images, targets, lr=0.01)["total"])
        a, b = state(m1, s1), state(m2, s2)
        diffs.append(max(float(np.abs(a[k] - b[k]).max()) for k in a))
        bn_diffs.append(max(float(np.abs(a[k] - b[k]).max()) for k in a if ".running_" in k))
    put = jax.device_put(np.zeros((BATCH, 3, SIZE, SIZE), np.uint8), batch_sharding(mesh))
    print(json.dumps({
        "jax_devices": len(jax.devices()),
        "losses_one": losses_one, "losses_two": losses_two,
        "devices_one": devices(m1), "devices_two": devices(m2),
        "batch_shards": sorted(sh.data.shape[0] for sh in put.addressable_shards),
        "n_state": len(a), "n_bn_stats": sum(".running_" in k for k in a),
        "max_abs_diff_per_step": diffs, "max_abs_diff_bn_stats_per_step": bn_diffs,
        "max_param_change": max(float(np.abs(a[k] - initial[k]).max()) for k in m1.params),
    }))


if __name__ == "__main__":
    main()
