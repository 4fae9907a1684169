"""End-to-end throughput of the real training loop (:class:`yolo_lib.train.Trainer`) on the cached synthetic set.

    python benchmarks/bench_train_loop.py --imgsz 320 --batch 128 --iters 200 --processes 12    # one GPU
    python benchmarks/bench_train_loop.py --imgsz 320 --batch 512 --iters 200 --processes 24 --devices 8
    python benchmarks/bench_train_loop.py --imgsz 64 --batch 2 --images 8 --iters 3 --max-boxes 8   # CPU smoke

``Trainer.fit()`` as ``python -m yolo_lib.train`` runs it (data loader with augmentation in
``--workers`` threads or ``--processes`` worker processes, the compiled donating step, data parallel over ``--devices`` devices,
loss logging every ``--log-every`` iterations, a checkpoint at each epoch end), with the
per-epoch evaluation, plots and ONNX export off. The synthetic set has ``--images`` training
images (generated and letterboxed once, then cached in the data folder, so no JPEG decoding in
the loop); the run lasts the whole epochs that cover ``--iters`` iterations after the first
(compiling) one. Printed:

* compile time: building the trainer (data, model, graph or the step cache) + the first call;
* images per second over the timed iterations (the Trainer's own figure), and end to end
  (everything after the first call: epoch ends and checkpoints included); the seconds of one
  epoch end; the time per epoch / whole run projected for ``--epoch-images`` images x
  ``--epochs`` from the loop's rate plus one epoch end per epoch;
* the host's time per iteration: waiting for data (next batch + copy to the device), the step
  (dispatch; it is asynchronous, so the device's time shows up where the host waits for it,
  mostly in logging, which reads the loss accumulators) and logging;
* whether the device idles between steps: the step run back to back on one batch (``--bare``
  calls, then one wait) against the loop's time per iteration; their ratio is the share of the
  loop's time the device computes (100 % means no gaps: no host sync or data wait holds it up);
* device memory (``jax`` ``memory_stats``; the CPU backend has none) and the FLOPs of one step
  from XLA's cost analysis of the compiled step, as TFLOP/s achieved in the loop and, on a known
  GPU, the fraction of the devices' peak.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import tempfile
import time

import yolo_lib  # noqa: F401  (sets floatX=float32 before PyTensor loads)
from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.ops.precision import PRECISIONS
from yolo_lib.train import SMOKE, Trainer, synthetic_source

#: Dense peak TFLOP/s (float32 via TF32 tensor cores, bfloat16) by device kind, first match in
#: ``jax.devices()[0].device_kind`` wins (the PCIe H100 before the SXM one); the step is float32,
#: which XLA runs as TF32 on these GPUs by default.
PEAK_TFLOPS = {"H100 PCIe": {"tf32": 378.0, "bf16": 756.0}, "H100": {"tf32": 495.0, "bf16": 989.0},
               "H200": {"tf32": 495.0, "bf16": 989.0}, "A100": {"tf32": 156.0, "bf16": 312.0}}


def step_flops(function, n_devices: int) -> float | None:
    """FLOPs of one call of the step's :class:`yolo_lib.compilation.step_cache.ExportedFunction`, from XLA's
    cost analysis of its compiled program; None if the backend reports none. For a mesh XLA
    reports one device's partition, so times ``n_devices``: the work all devices execute, the
    replicated optimizer and EMA update counted on each."""
    import jax

    specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in function.exported.in_avals]
    cost = function.jit.lower(*specs).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = (cost or {}).get("flops")
    return float(flops) * n_devices if flops else None


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


def bare_step_ms(trainer: Trainer, calls: int) -> float:
    """Milliseconds per call of the trainer's compiled step run ``calls`` times back to back on one
    batch with the last iteration's settings (an optimizer step each: it changes the weights, so
    call it after the run), timed from the first dispatch to the end of the last call."""
    step, settings = trainer.step, trainer.last_settings
    batches = trainer.loader.epoch(0)
    try:
        batch = next(batches)
    finally:
        batches.close()
        trainer.loader.close()
    device_batch = step.put(batch.images, batch.boxes, batch.classes, batch.mask)
    step(device_batch, settings, True, 0.9, trainer.iteration)  # not timed: nothing compiles, but warms up
    step.wait()
    t = time.perf_counter()
    for k in range(calls):
        step(device_batch, settings, True, 0.9, trainer.iteration + 1 + k)
    step.wait()
    return 1e3 * (time.perf_counter() - t) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=64, help="global batch (split over --devices)")
    ap.add_argument("--iters", type=int, default=50, help="iterations to time after the compiling one (at least)")
    ap.add_argument("--images", type=int, default=512, help="synthetic training images (cached)")
    ap.add_argument("--max-boxes", type=int, default=64, help="boxes per image (more are truncated); 0: what the "
                    "data can carry, as the train command does")
    ap.add_argument("--workers", type=int, default=2, help="loader threads (without --processes)")
    ap.add_argument("--processes", type=int, default=0, help="loader worker processes (0: threads)")
    ap.add_argument("--devices", type=int, help="data parallel over this many devices (default all; 1: no mesh)")
    ap.add_argument("--precision", choices=tuple(PRECISIONS), default=DEFAULT_PRECISION,
                    help="arithmetic of the convolutions (yolo_lib.ops.precision)")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--bare", type=int, default=10, help="back-to-back step calls for the device-busy figure")
    ap.add_argument("--no-flops", action="store_true", help="skip the cost analysis (it compiles the step again)")
    ap.add_argument("--epoch-images", type=int, default=12000, help="images per epoch for the projection")
    ap.add_argument("--epochs", type=int, default=100, help="epochs for the projected full run")
    args = ap.parse_args()
    import jax

    nb = args.images // args.batch
    if nb < 1:
        raise SystemExit(f"--images {args.images} is less than one batch of {args.batch}")
    epochs = math.ceil((args.iters + 1) / nb)
    cfg = dataclasses.replace(SMOKE, imgsz=args.imgsz, batch=args.batch, n_train=args.images, n_val=4, epochs=epochs,
                              close_mosaic=0, max_boxes=args.max_boxes or None, workers=args.workers, processes=args.processes,
                              precision=args.precision, log_every=args.log_every,
                              val=False, plots=False, export_onnx=False)
    print(f"machine: {platform.node()}, {os.cpu_count()} cpus, load {tuple(round(x, 1) for x in os.getloadavg())}, "
          f"jax {jax.__version__}, {len(jax.devices())} x {jax.devices()[0].device_kind}")
    t = time.perf_counter()
    source = synthetic_source(cfg.n_train, cfg.n_val, progress=False)
    print(f"dataset: {cfg.n_train} synthetic images ready in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, source, tmp, progress=False, devices=args.devices)
        t = time.perf_counter()
        trainer.build()
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        r = trainer.fit()
        fit_s = time.perf_counter() - t
    n_dev, n_iter, last = trainer.devices, trainer.loop_seconds["iterations"], trainer.history[-1]
    images = n_iter * args.batch
    end_to_end = images / (fit_s - r["step_compile_seconds"])
    loop_rate = r["train_images_per_second"]
    epoch_end_s = (fit_s - r["step_compile_seconds"] - trainer.train_seconds) / epochs
    print(f"run: {epochs} epoch(s) x {nb} iterations of {args.batch} images at {args.imgsz} px on {n_dev} device(s), "
          f"precision {args.precision}, "
          f"last epoch's loss box {last['train/box_loss']:.3f} cls {last['train/cls_loss']:.3f} "
          f"dfl {last['train/dfl_loss']:.3f}")
    print(f"compile: build {build_s:.1f} s + first call {r['step_compile_seconds']:.1f} s "
          f"= {build_s + r['step_compile_seconds']:.1f} s")
    print(f"throughput: {loop_rate:.1f} img/s in the loop, {end_to_end:.1f} img/s end to end "
          f"({n_iter} iterations of {args.batch}, epoch ends and checkpoints included)")
    ms = r["iteration_ms"]
    print(f"per iteration: data wait {ms['data']:.2f} ms, step {ms['step']:.2f} ms, logging {ms['log']:.2f} ms")
    print(f"epoch end: {epoch_end_s:.2f} s each (checkpoint and weight files; evaluation off)")
    epoch_s = args.epoch_images / loop_rate + epoch_end_s
    print(f"projection: {epoch_s:.1f} s per epoch of {args.epoch_images} images, "
          f"{args.epochs * epoch_s / 60:.1f} min for {args.epochs} epochs (no evaluation)")
    bare_ms, loop_ms = bare_step_ms(trainer, args.bare), 1e3 * args.batch / loop_rate
    print(f"device busy: {100 * bare_ms / loop_ms:.0f} % of the loop's time (step back to back {bare_ms:.2f} ms, "
          f"loop {loop_ms:.2f} ms per iteration; 100 % = no gaps between steps)")
    print(f"device memory: {device_memory()}")
    if not args.no_flops:
        t = time.perf_counter()
        flops = step_flops(trainer.step.function, n_dev)
        if flops is None:
            print("FLOPs: the backend's cost analysis reports none")
        else:
            achieved = flops * loop_rate / args.batch / 1e12
            kind = jax.devices()[0].device_kind
            peak = next((v for k, v in PEAK_TFLOPS.items() if k in kind), None)
            share = (f"; {100 * achieved / (n_dev * peak['tf32']):.2f} % of {n_dev} x {kind}'s "
                     f"{peak['tf32']:.0f} TFLOP/s TF32 ({100 * achieved / (n_dev * peak['bf16']):.2f} % of bf16 peak)"
                     if peak else "")
            print(f"FLOPs: {flops / 1e9:.2f} GFLOP per step ({flops / args.batch / 1e9:.3f} per image; "
                  f"cost analysis {time.perf_counter() - t:.1f} s), achieved {achieved:.4f} TFLOP/s in the loop{share}")


if __name__ == "__main__":
    main()
