"""Benchmark: compile time and step time of the compiled YOLO11n training step.

Ours (:class:`yolo_lib.train.step.TrainingStep`, the Trainer's step with the reference tensors'
input format and no EMA: PyTensor graph with PyTensor's symbolic gradient, JAX backend, donating
linker) side by side, in the same run and on the same batch, with a
pure-JAX step made from the same forward + loss graph (PyTensor's ``jax_funcify``) differentiated
by ``jax.value_and_grad`` and jitted with donated parameters
(:class:`JaxReferenceStep` in benchmarks/jax_reference_step.py).

    python benchmarks/bench_train_step.py --batch 8 --imgsz 320 --steps 20
    python benchmarks/bench_train_step.py --layers 5 --batch 2 --imgsz 128 --steps 20   # a slice, seconds

``--layers K`` times the same two methods on a slice instead of the whole step: backbone layers
0..K-1 in train mode and a stand-in loss (the mean square of layer K-1's output). Its graph is a
fraction of the whole step's, so it compiles in seconds (notebook 06 runs it live in the smoke
profile); its numbers say how the two gradients compare on that slice, not on the full step.

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
import pytensor
import pytensor.tensor as pt
from jax_reference_step import JaxReferenceStep, JaxSGDStep  # benchmarks/jax_reference_step.py, next to this script
from yolo_lib.compilation import modes
from yolo_lib.loss import from_image_lists
from yolo_lib.model import build_yolo11
from yolo_lib.nn import ForwardContext
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.step import TrainingStep

#: Backbone layers 0..10 each read only the layer before, so any prefix of them is a slice.
BACKBONE_LAYERS = 11


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


def slice_graph(model, layers: int, batch: int, imgsz: int):
    """Layers 0..layers-1 of ``model`` in train mode and the stand-in loss mean(y**2):
    (params of those layers, BN updates, images variable, loss)."""
    if not 1 <= layers <= BACKBONE_LAYERS:
        raise SystemExit(f"--layers must be 1..{BACKBONE_LAYERS} (the backbone), got {layers}")
    images = pt.tensor4("images", dtype="float32", shape=(batch, 3, imgsz, imgsz))
    ctx, y = ForwardContext(train=True), images
    for i in range(layers):
        y = model.model[i](y, ctx)
    params = {n: p for n, p in model.params.items() if int(n.split(".")[1]) < layers}
    return params, ctx.updates, images, pt.mean(y ** 2)


class PyTensorSGDStep:
    """The PyTensor side for any loss graph, built as ``TrainingStep`` builds the whole step:
    ``pytensor.grad``, the same :class:`~yolo_lib.train.optimizer.SGD` updates (an optimizer step
    every call), BN updates, one JAX program compiled with the training mode (donating linker).
    Call: ``step(*batch, lr=...)``."""

    def __init__(self, params: dict, bn_updates: list, data: list, total):
        sgd = SGD(params, TrainConfig.weight_decay, TrainConfig.max_grad_norm)
        lr, bias_lr, momentum = (pt.scalar(n, dtype="float32") for n in ("lr", "bias_lr", "momentum"))
        do_step = pt.scalar("do_step", dtype="bool")
        updates, _ = sgd.updates(pytensor.grad(total, list(params.values())), lr, bias_lr, momentum, do_step)
        self.function = pytensor.function([lr, bias_lr, momentum, do_step, *data], total,
                                          updates=updates + list(bn_updates), mode=modes.training())

    def step(self, *batch, lr: float) -> dict:
        scalars = (np.float32(lr), np.float32(lr), np.float32(TrainConfig.momentum), np.bool_(True))
        return {"total": float(self.function(*scalars, *batch))}


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
    ap.add_argument("--layers", type=int, default=0, help="time a slice: backbone layers 0..K-1 (0: the whole step)")
    ap.add_argument("--cold", action="store_true", help="no step cache, no JAX compilation cache: time real compiles")
    args = ap.parse_args()
    if args.cold:  # both read at each compile
        os.environ["YOLO_JAX_CACHE"] = os.environ["YOLO_STEP_CACHE"] = "0"
    import jax

    print(f"machine: {platform.node()} {os.cpu_count()} cpus, jax devices {jax.devices()}, load {os.getloadavg()}")
    images, targets = synthetic_batch(args.batch, args.imgsz, args.max_boxes, args.nc)
    model = build_yolo11("n", nc=args.nc, seed=0)
    hw = (args.imgsz, args.imgsz)

    if args.layers:
        print(f"slice: layers 0..{args.layers - 1} of YOLO11n in train mode, loss = mean square of layer "
              f"{args.layers - 1}'s output (not the detection loss)")
        params, bn_updates, image_var, total = slice_graph(model, args.layers, args.batch, args.imgsz)
        ref, ref_build = timed(JaxSGDStep, params, bn_updates, [image_var], total, pt.stack([total]))  # copies the initial weights
        ours, ours_build = timed(PyTensorSGDStep, params, bn_updates, [image_var], total)

        def run_ours():
            return ours.step(images, lr=0.01)

        def run_ref():
            return ref.step(images, lr=0.01)
    else:
        params = model.params
        ref, ref_build = timed(JaxReferenceStep, model, args.batch, hw, args.max_boxes)  # copies the initial weights
        sgd = SGD(model.params, TrainConfig.weight_decay, TrainConfig.max_grad_norm)
        ours, ours_build = timed(TrainingStep, model, sgd, None, args.batch, hw, args.max_boxes,
                                 input_format="normalised")

        def run_ours():
            return ours.run(images, targets, lr=0.01)

        def run_ref():
            return ref.run(images, targets, lr=0.01)

    initial = [np.asarray(p.get_value(), np.float64) for p in params.values()]
    ours_first, ours_xla = timed(run_ours)
    ref_first, ref_xla = timed(run_ref)
    print(f"compile ours: graph+rewrite {ours_build:.1f} s + first call (XLA) {ours_xla:.1f} s = {ours_build + ours_xla:.1f} s")
    print(f"compile pure-JAX: graph+rewrite+lowering {ref_build:.1f} s + first call (XLA) {ref_xla:.1f} s = {ref_build + ref_xla:.1f} s")
    print(f"first step total: ours {ours_first['total']:.6f}  pure-JAX {ref_first['total']:.6f}")
    ours_p = [np.asarray(p.get_value(), np.float64) for p in params.values()]
    ref_p = [np.asarray(q, np.float64) for q in ref.params]
    gap = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(ours_p, ref_p)))
    update = np.sqrt(sum(((b - p0) ** 2).sum() for b, p0 in zip(ref_p, initial)))
    print(f"update of step 1: ||ours - pure-JAX|| / ||pure-JAX update|| = {gap / update:.2e}")
    if abs(ours_first["total"] - ref_first["total"]) > 1e-4 * abs(ref_first["total"]) or gap > 1e-3 * update:
        raise SystemExit(f"the two steps disagree: loss {ours_first['total']:.6f} vs {ref_first['total']:.6f}, "
                         f"update gap {gap / update:.2e} (tolerances: 1e-4 relative, 1e-3 of the update)")

    times = {"ours": [], "pure-JAX": []}
    for _ in tqdm(range(args.steps), desc="steps (ours, pure-JAX interleaved)"):
        times["ours"].append(timed(run_ours)[1])
        times["pure-JAX"].append(timed(run_ref)[1])
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"step time batch {args.batch} {args.imgsz}x{args.imgsz}, median of {args.steps}: "
          f"ours {med['ours']:.1f} ms, pure-JAX {med['pure-JAX']:.1f} ms, ratio {med['ours'] / med['pure-JAX']:.3f}")
    print(f"min: ours {min(times['ours']) * 1e3:.1f} ms, pure-JAX {min(times['pure-JAX']) * 1e3:.1f} ms; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
