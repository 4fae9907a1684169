"""Why two devices and one device drift apart: the training step of the Trainer, iteration by iteration.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 JAX_PLATFORMS=cpu \\
        python benchmarks/data_parallel_drift.py --iters 12

Three runs of the Trainer's compiled step (tests/train_worker.py's TINY shapes: 64 px, batch 2,
synthetic data, the same batches): ``one`` on one device, ``two`` on a two-device mesh (one image
per device) and ``noisy``: one device again, its initial weights multiplied by
``1 + --noise * N(0, 1)`` (a rounding-sized perturbation). After every iteration it prints the
loss items and the largest absolute difference to ``one`` per state group (parameters, BN
statistics, momentum, gradient sums, EMA), and, for the state before the iteration, whether the
task-aligned assigner picks the same anchors (top-k and positives) for ``two`` and ``noisy`` as
for ``one`` (train-mode forward of each state on the batch + :func:`yolo_lib.loss.inspection`).
If ``noisy`` drifts like ``two``, the drift is the training's sensitivity to rounding, not an
error of the data-parallel step. The last line is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile

import numpy as np

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.compilation.functions import train_forward_function
from yolo_lib.loss import from_image_lists
from yolo_lib.loss.inspection import loss_on_heads
from yolo_lib.model import build_yolo11
from yolo_lib.train import SMOKE, Trainer, synthetic_source
from yolo_lib.train.schedule import iteration_settings

TINY = dataclasses.replace(SMOKE, imgsz=64, batch=2, n_train=8, n_val=4, epochs=3, close_mosaic=1, val=False,
                           max_boxes=8, log_every=2, plots=False, warmup_epochs=1.0, workers=1, nbs=4)
GROUPS = ("param", "bn_stat", "momentum", "grad_sum", "ema")


def state(t: Trainer) -> dict:
    """Every state array of a trainer, by group and name, as float64 numpy."""
    out = {}
    for n, v in t.model.params.items():
        out[("param", n)] = v.get_value()
    for n, v in t.model.buffers.items():
        out[("bn_stat", n)] = v.get_value()
    for n, v in t.sgd.momentum_buffers.items():
        out[("momentum", n)] = v.get_value()
    for n, v in t.sgd.grad_sums.items():
        out[("grad_sum", n)] = v.get_value()
    for n, v in t.ema.values.items():
        out[("ema", n)] = v.get_value()
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def diff(a: dict, b: dict) -> dict:
    """Largest |a - b| per group, and the name where it is largest overall."""
    per = {g: 0.0 for g in GROUPS}
    worst, worst_name = 0.0, None
    for k in a:
        d = float(np.abs(a[k] - b[k]).max())
        per[k[0]] = max(per[k[0]], d)
        if d > worst:
            worst, worst_name = d, "/".join(k)
    return {**per, "worst": worst_name}


def assignment(probe, t: Trainer, batch, imgsz: int) -> dict:
    """Assigner outputs for ``t``'s current weights on ``batch`` (train-mode forward)."""
    targets = {**t.model.params, **t.model.buffers}
    for name, var in {**probe.params, **probe.buffers}.items():
        var.set_value(np.asarray(targets[name].get_value()))
    fwd = train_forward_function(probe, len(batch.images), imgsz, imgsz)
    out = fwd(batch.images.astype(np.float32) / 255.0)
    box = [out[f"box_raw_P{i}"] for i in (3, 4, 5)]
    cls = [out[f"cls_raw_P{i}"] for i in (3, 4, 5)]
    boxes, classes = [], []
    for b, c, m in zip(batch.boxes, batch.classes, batch.mask):
        xyxy = b[m > 0] / imgsz
        boxes.append(np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1))
        classes.append(c[m > 0])
    dense = from_image_lists(boxes, classes, max_boxes=batch.boxes.shape[1])
    return loss_on_heads(box, cls, dense)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--noise", type=float, default=1e-6, help="relative perturbation of the noisy run's weights")
    args = ap.parse_args()
    import jax

    if len(jax.devices()) < 2:
        raise SystemExit("needs two devices: XLA_FLAGS=--xla_force_host_platform_device_count=2")
    cfg = TINY
    source = synthetic_source(cfg.n_train, cfg.n_val, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {name: Trainer(cfg, source, f"{tmp}/{name}", progress=False, devices=d)
                for name, d in (("one", 1), ("two", 2), ("noisy", 1))}
        for t in runs.values():
            t.build()
        rng = np.random.default_rng(1)
        noisy = runs["noisy"]
        for name, v in noisy.model.params.items():
            w = v.get_value()
            w = (w * (1 + args.noise * rng.standard_normal(w.shape))).astype(np.float32)
            v.set_value(w)
            noisy.ema.values[name].set_value(w)  # the EMA starts as a copy of the (perturbed) model
        probe = build_yolo11("n", len(source.class_names), init=False)
        nb = runs["one"].nb
        streams = {k: (b for e in range(cfg.epochs) for b in t.loader.epoch(e)) for k, t in runs.items()}
        rows = []
        for ni in range(args.iters):
            batches = {k: next(s) for k, s in streams.items()}
            assert all(np.array_equal(batches["one"].images, b.images) for b in batches.values())
            assigned = {k: assignment(probe, runs[k], batches[k], cfg.imgsz) for k in runs}
            row = {"iteration": ni}
            for k in ("two", "noisy"):
                a, b = assigned["one"], assigned[k]
                row[f"topk_flips_{k}"] = int((a["topk_mask"] != b["topk_mask"]).sum())
                row[f"fg_flips_{k}"] = int((a["fg_mask"] != b["fg_mask"]).sum())
                row[f"gt_idx_flips_{k}"] = int(((a["gt_idx"] != b["gt_idx"]) & a["fg_mask"]).sum())
                row[f"max_score_diff_{k}"] = float(np.abs(a["scores"] - b["scores"]).max())
            row["n_fg"] = int(assigned["one"]["fg_mask"].sum())
            for k, t in runs.items():
                s = iteration_settings(ni, nb, cfg)
                do_step = ni - t.sgd.last_step >= s.accumulate
                decay = t.ema.decay(t.ema.updates + 1) if do_step else 0.0
                b = batches[k]
                t.step(t.step.put(b.images, b.boxes, b.classes, b.mask), s, do_step, decay, ni)  # counts the step
                total, _ = t.step.read_losses()
                row[f"loss_{k}"] = [float(x) for x in total]
            row["do_step"] = bool(do_step)
            ref = state(runs["one"])
            for k in ("two", "noisy"):
                row[f"diff_{k}"] = diff(ref, state(runs[k]))
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
