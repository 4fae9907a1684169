"""Data pipeline throughput: batches of 64 at 320 with full augmentation, images/s per CPU core.

    python benchmarks/bench_data.py [--images 256] [--batches 12] [--size 320]

Per-core figure = images / CPU seconds of this process (time.process_time), measured with one
assembling thread and single-threaded BLAS, so other load on a shared machine inflates it less
than wall time would; wall-clock img/s is printed too. Reference in the same run: the loader
without augmentation (letterboxed cache -> float32 NCHW only). Targets (issue 6): >= 150 img/s
per core with mosaic, >= 1000 without. The last row (wall clock only) runs the worker
processes of ``BatchLoader(processes=N)``: on a 16-core host use ``--processes 16``. Rows marked
uint8 hand over uint8 batches (``dtype="uint8"``, scaled to [0, 1] on the device by the training
step) instead of float32: a quarter of the bytes to write and copy. For the process rows the
per-core column is this (parent) process alone: its CPU seconds per image are the hand-over
(submitting jobs, receiving targets, copying each batch out of the shared ring), so images per
parent CPU second are the most a loader with enough worker processes can deliver to one
training process, whatever the cores; the row without augmentation shows it with the least
competition from the workers on a small machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core: before numpy loads BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from yolo_lib.data import AugmentConfig, BatchLoader, SyntheticSpec, open_dataset  # noqa: E402


def measure(dataset, augment, batches: int, workers: int = 1, processes: int = 0,
            dtype: str = "float32") -> tuple[float, float]:
    """(images per CPU second of this process, images per wall second) over ``batches`` batches of 64."""
    loader = BatchLoader(dataset, 64, augment, seed=0, workers=workers, processes=processes,
                         reuse_buffers=not processes, dtype=dtype)
    warm = loader.workers + loader.prefetch + 3  # warm-up: touch every recycled batch buffer once
    for k, _ in enumerate(loader.epoch(99)):
        if k + 1 >= warm:
            break
    n, epoch = 0, 0
    c0, t0 = time.process_time(), time.perf_counter()
    while n < batches * 64:
        for batch in loader.epoch(epoch):
            n += len(batch.images)
            if n >= batches * 64:
                break
        epoch += 1
    result = n / (time.process_time() - c0), n / (time.perf_counter() - t0)
    loader.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=256, help="synthetic training images")
    ap.add_argument("--batches", type=int, default=24, help="batches of 64 per measurement")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--processes", type=int, default=2, help="worker processes for the scaling row")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = SyntheticSpec(n_train=args.images, n_val=0)
        t = time.perf_counter()
        ds = open_dataset("synthetic", "train", args.size, spec=spec, root=Path(tmp) / "syn",
                          cache_root=Path(tmp) / "cache", progress=False)
        print(f"synthetic set + cache: {len(ds)} images at {args.size} in {time.perf_counter() - t:.1f} s")
        rows = [
            ("reference: no augmentation", None, 1),
            ("full augmentation, mosaic off", AugmentConfig(mosaic=0.0), 1),
            ("full augmentation, mosaic 1.0", AugmentConfig(), 1),
            ("full augmentation, mosaic 1.0, uint8 batches", AugmentConfig(), 1, "uint8"),
            ("full augmentation, mosaic 1.0, 2 threads", AugmentConfig(), 2),
        ]
        ref = None
        print(f"{'configuration':48s} {'img/s/core':>11s} {'wall img/s':>11s} {'vs ref':>7s}")
        for name, aug, workers, *dtype in rows:
            per_core, wall = measure(ds, aug, args.batches, workers, dtype=(dtype or ["float32"])[0])
            ref = ref or per_core
            print(f"{name:48s} {per_core:11.0f} {wall:11.0f} {per_core / ref:7.2f}")
        for label, aug, dtype in (("mosaic 1.0", AugmentConfig(), "float32"), ("mosaic 1.0", AugmentConfig(), "uint8"),
                                  ("no augmentation", None, "uint8")):
            parent, wall = measure(ds, aug, args.batches, processes=args.processes, dtype=dtype)
            name = f"{label}, {args.processes} processes, {dtype} batches"
            print(f"{name:48s} {parent:11.0f} {wall:11.0f}   (img/s/core: the parent's hand-over)")
    print("targets: >= 1000 img/s/core without mosaic, >= 150 with mosaic")


if __name__ == "__main__":
    main()
