"""End-to-end training-loop throughput: data loader + compiled step + logging, on a cached dataset.

    python benchmarks/bench_train_loop.py --imgsz 320 --batch 128 --iters 200 --processes 16   # one GPU
    python benchmarks/bench_train_loop.py --imgsz 320 --batch 512 --iters 200 --processes 16 --devices 8
    python benchmarks/bench_train_loop.py --imgsz 64 --batch 4 --iters 4 --images 16 --processes 0  # CPU smoke

The loop is the training loop's structure: the loader (pre-decoded uint8 letterboxed cache,
augmentation with mosaic in worker threads or ``--processes`` worker processes, prefetched)
feeds the compiled training step (:class:`yolo_lib.train_step.TrainStep`, data parallel over
``--devices`` devices with :mod:`yolo_lib.parallel`), and every ``--log-every`` iterations the
losses are formatted as a progress line. Printed:

* compile time (building the graph + first call; excluded from the throughput);
* images per second end to end over ``--iters`` iterations after the first, and the time per
  epoch / whole run projected for ``--epoch-images`` images x ``--epochs``;
* the time per iteration split into waiting for data (``next(batches)``), the step (includes the
  host waiting for the device: the step returns the loss as a float) and logging;
* device memory (``jax`` ``memory_stats``; the CPU backend has none) and the FLOPs of one step
  from XLA's cost analysis of the compiled step, as TFLOP/s achieved and, on a known GPU, the
  fraction of its peak.

The dataset is the offline synthetic set (generated and cached in a temporary folder, no JPEG
decoding in the loop) with ``--images`` training images.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import yolo_lib  # noqa: F401  (sets floatX=float32 before PyTensor loads)
from yolo_lib import modes
from yolo_lib.data import AugmentConfig, BatchLoader, SyntheticSpec, open_dataset
from yolo_lib.model import build_yolo11
from yolo_lib.parallel import data_mesh
from yolo_lib.train_step import TrainStep

#: Dense peak TFLOP/s (float32 via TF32 tensor cores, bfloat16) by device kind, first match in
#: ``jax.devices()[0].device_kind`` wins (the PCIe H100 before the SXM one); the step is float32,
#: which XLA runs as TF32 on these GPUs by default.
PEAK_TFLOPS = {"H100 PCIe": {"tf32": 378.0, "bf16": 756.0}, "H100": {"tf32": 495.0, "bf16": 989.0},
               "H200": {"tf32": 495.0, "bf16": 989.0}, "A100": {"tf32": 156.0, "bf16": 312.0}}


def step_flops(function) -> float | None:
    """FLOPs of one call of a PyTensor function compiled with the donating JAX linker, from
    XLA's cost analysis of the compiled executable (None if the backend reports none)."""
    import jax

    linker = function.maker.linker
    args = []
    for var, container in zip(linker.fgraph.inputs, function.input_storage):
        shape = var.type.shape if None not in var.type.shape else np.shape(container.data)
        args.append(jax.ShapeDtypeStruct(tuple(shape), np.dtype(var.type.dtype)))
    cost = linker.jitted.lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = (cost or {}).get("flops")
    return float(flops) if flops else None


def device_memory() -> str:
    """Peak / in-use bytes per device from ``memory_stats`` (``n/a`` where the backend has none)."""
    import jax

    parts = []
    for d in jax.local_devices():
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if not stats:
            return "n/a (backend reports no memory stats)"
        parts.append(f"{d.id}: peak {stats.get('peak_bytes_in_use', 0) / 2**30:.2f} GiB, "
                     f"in use {stats.get('bytes_in_use', 0) / 2**30:.2f} GiB")
    return "; ".join(parts)


def run_loop(step, loader: BatchLoader, iters: int, log_every: int, lr: float = 0.01) -> dict:
    """The training loop, timed: ``iters`` + 1 iterations (the first compiles and is timed apart).

    Returns compile seconds, wall seconds of the rest, and per-iteration seconds waiting for data,
    in the step and in logging.
    """
    batches = _endless(loader)
    t = time.perf_counter()
    batch = next(batches)
    step(batch.images, batch.loss_targets(), lr=lr)
    compile_s = time.perf_counter() - t
    wait, run, log, losses = [], [], [], []
    t_start = time.perf_counter()
    for i in range(iters):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        out = step(batch.images, batch.loss_targets(), lr=lr)
        t2 = time.perf_counter()
        losses.append(out["items"])
        if (i + 1) % log_every == 0 or i + 1 == iters:
            mean = np.mean(losses[-log_every:], axis=0)
            line = f"iter {i + 1}/{iters} box {mean[0]:.3f} cls {mean[1]:.3f} dfl {mean[2]:.3f}"
            print(line, flush=True)
        t3 = time.perf_counter()
        wait.append(t1 - t0), run.append(t2 - t1), log.append(t3 - t2)
    return {"compile_s": compile_s, "wall_s": time.perf_counter() - t_start, "wait": wait, "step": run, "log": log}


def _endless(loader: BatchLoader):
    epoch = 0
    while True:
        yield from loader.epoch(epoch)
        epoch += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=64, help="global batch (split over --devices)")
    ap.add_argument("--iters", type=int, default=50, help="timed iterations after the compiling one")
    ap.add_argument("--images", type=int, default=512, help="synthetic training images (cached)")
    ap.add_argument("--nc", type=int, default=80)
    ap.add_argument("--max-boxes", type=int, default=64, help="boxes per image (more are truncated)")
    ap.add_argument("--processes", type=int, default=0, help="loader worker processes (0: threads)")
    ap.add_argument("--workers", type=int, default=2, help="loader threads when --processes 0")
    ap.add_argument("--devices", type=int, default=1, help="data parallel over this many devices (0: all)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--no-flops", action="store_true", help="skip the cost analysis (it compiles the step again)")
    ap.add_argument("--epoch-images", type=int, default=12000, help="images per epoch for the projection")
    ap.add_argument("--epochs", type=int, default=100, help="epochs for the projected full run")
    args = ap.parse_args()
    import jax

    mesh = data_mesh(args.devices or None) if args.devices != 1 else None
    devices = jax.devices()[: args.devices or None]
    print(f"machine: {platform.node()}, {os.cpu_count()} cpus, load {tuple(round(x, 1) for x in os.getloadavg())}, "
          f"jax {jax.__version__}, devices {len(devices)} x {devices[0].device_kind}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ds = open_dataset("synthetic", "train", args.imgsz, spec=SyntheticSpec(n_train=args.images, n_val=0),
                          root=Path(tmp) / "syn", cache_root=Path(tmp) / "cache", progress=False)
        print(f"dataset: {len(ds)} synthetic images cached at {args.imgsz} in {time.perf_counter() - t:.1f} s")
        loader = BatchLoader(ds, args.batch, AugmentConfig(), seed=0, max_boxes=args.max_boxes,
                             on_overflow="truncate", workers=args.workers, processes=args.processes)
        model = build_yolo11("n", nc=args.nc, seed=0)
        t = time.perf_counter()
        mode = None if mesh is not None else modes.training()  # a PyTensor function (not the step cache): cost analysis
        step = TrainStep(model, args.batch, (args.imgsz, args.imgsz), loader.max_boxes, mesh=mesh, mode=mode)
        build_s = time.perf_counter() - t
        try:
            r = run_loop(step, loader, args.iters, args.log_every)
        finally:
            loader.close()
    n = args.iters * args.batch
    rate = n / r["wall_s"]
    ms = {k: 1e3 * statistics.mean(r[k]) for k in ("wait", "step", "log")}
    print(f"compile: graph {build_s:.1f} s + first call {r['compile_s']:.1f} s = {build_s + r['compile_s']:.1f} s")
    print(f"throughput: {rate:.1f} img/s end to end ({args.iters} iterations of {args.batch} in {r['wall_s']:.2f} s)")
    print(f"per iteration: data wait {ms['wait']:.2f} ms, step {ms['step']:.2f} ms, logging {ms['log']:.2f} ms "
          f"(median step {1e3 * statistics.median(r['step']):.2f} ms)")
    epoch_s = args.epoch_images / rate
    print(f"projection: {epoch_s:.1f} s per epoch of {args.epoch_images} images, "
          f"{args.epochs * epoch_s / 60:.1f} min for {args.epochs} epochs (training only, no evaluation)")
    print(f"device memory: {device_memory()}")
    if not args.no_flops:
        t = time.perf_counter()
        flops = step_flops(step.function)
        if flops is None:
            print("FLOPs: the backend's cost analysis reports none")
        else:
            achieved = flops * args.iters / sum(r["step"]) / 1e12
            kind = devices[0].device_kind
            peak = next((v for k, v in PEAK_TFLOPS.items() if k in kind), None)
            share = (f"; {100 * achieved / peak['tf32']:.2f} % of {kind}'s {peak['tf32']:.0f} TFLOP/s TF32 "
                     f"({100 * achieved / peak['bf16']:.2f} % of bf16 peak)") if peak else ""
            if mesh is not None:  # XLA reports the partitioned program of one device
                flops *= len(devices)
            print(f"FLOPs: {flops / 1e9:.1f} GFLOP per step ({flops / args.batch / 1e9:.2f} per image; "
                  f"cost analysis {time.perf_counter() - t:.1f} s), achieved {achieved:.4f} TFLOP/s in the step{share}")


if __name__ == "__main__":
    main()
