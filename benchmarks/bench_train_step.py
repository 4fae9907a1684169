"""Benchmark: compile time and step time of the compiled YOLO11n training step.

Ours (:class:`yolo_lib.train_step.TrainStep`: PyTensor graph with PyTensor's symbolic gradient,
JAX backend, donating linker) side by side, in the same run and on the same batch, with a
pure-JAX step made from the same forward + loss graph (PyTensor's ``jax_funcify``) differentiated
by ``jax.value_and_grad`` and jitted with donated parameters
(:class:`JaxReferenceStep` in benchmarks/jax_reference_step.py).

    python benchmarks/bench_train_step.py --batch 8 --imgsz 320 --steps 20

Compile time = building + rewriting the graph (``pytensor.function``) + the first call (XLA).
Targets: compile <= 60 s on 2 CPU cores; step time ours <= 1.05x the pure-JAX step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from tqdm import tqdm

import yolo_lib  # noqa: F401  (sets floatX=float32 before PyTensor loads)
from jax_reference_step import JaxReferenceStep  # benchmarks/jax_reference_step.py, next to this script
from yolo_lib.loss import from_image_lists
from yolo_lib.model import build_yolo11
from yolo_lib.train_step import TrainStep


def synthetic_batch(batch: int, imgsz: int, max_boxes: int, nc: int, seed: int = 0):
    """Random images in [0, 1] and 1..max_boxes random boxes per image (normalised xywh)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (batch, 3, imgsz, imgsz)).astype(np.float32)
    boxes, classes = [], []
    for _ in range(batch):
        n = int(rng.integers(1, max_boxes + 1))
        wh = rng.uniform(0.03, 0.5, (n, 2))
        xy = rng.uniform(wh / 2, 1 - wh / 2)
        boxes.append(np.concatenate([xy, wh], 1))
        classes.append(rng.integers(0, nc, n))
    return images, from_image_lists(boxes, classes, max_boxes=max_boxes)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--max-boxes", type=int, default=16)
    ap.add_argument("--nc", type=int, default=2)
    args = ap.parse_args()
    import jax

    print(f"machine: {platform.node()} {os.cpu_count()} cpus, jax devices {jax.devices()}, load {os.getloadavg()}")
    images, targets = synthetic_batch(args.batch, args.imgsz, args.max_boxes, args.nc)
    model = build_yolo11("n", nc=args.nc, seed=0)
    hw = (args.imgsz, args.imgsz)

    initial = [np.asarray(p.get_value(), np.float64) for p in model.params.values()]
    ref, ref_build = timed(JaxReferenceStep, model, args.batch, hw, args.max_boxes)  # copies the initial weights
    ours, ours_build = timed(TrainStep, model, args.batch, hw, args.max_boxes)
    ours_first, ours_xla = timed(ours, images, targets, lr=0.01)
    ref_first, ref_xla = timed(ref, images, targets, lr=0.01)
    print(f"compile ours: graph+rewrite {ours_build:.1f} s + first call (XLA) {ours_xla:.1f} s = {ours_build + ours_xla:.1f} s")
    print(f"compile pure-JAX: graph+rewrite+lowering {ref_build:.1f} s + first call (XLA) {ref_xla:.1f} s = {ref_build + ref_xla:.1f} s")
    print(f"first step total: ours {ours_first['total']:.6f}  pure-JAX {ref_first['total']:.6f}")
    ours_p = [np.asarray(p.get_value(), np.float64) for p in model.params.values()]
    ref_p = [np.asarray(q, np.float64) for q in ref.params]
    gap = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(ours_p, ref_p)))
    update = np.sqrt(sum(((b - p0) ** 2).sum() for b, p0 in zip(ref_p, initial)))
    print(f"update of step 1: ||ours - pure-JAX|| / ||pure-JAX update|| = {gap / update:.2e}")

    times = {"ours": [], "pure-JAX": []}
    for _ in tqdm(range(args.steps), desc="steps (ours, pure-JAX interleaved)"):
        times["ours"].append(timed(ours, images, targets, lr=0.01)[1])
        times["pure-JAX"].append(timed(ref, images, targets, lr=0.01)[1])
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"step time batch {args.batch} {args.imgsz}x{args.imgsz}, median of {args.steps}: "
          f"ours {med['ours']:.1f} ms, pure-JAX {med['pure-JAX']:.1f} ms, ratio {med['ours'] / med['pure-JAX']:.3f}")
    print(f"min: ours {min(times['ours']) * 1e3:.1f} ms, pure-JAX {min(times['pure-JAX']) * 1e3:.1f} ms; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
