"""benchmarks/bench_train_loop.py at the smallest settings: it runs the Trainer and reports sane figures.

The shapes are tests/train_worker.py's TINY ones (64 px, batch 2, 8 boxes), so the compiled step
comes from the step cache when another training test built it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_loop.py"


def test_bench_train_loop_smoke():
    cmd = [sys.executable, str(SCRIPT), "--imgsz", "64", "--batch", "2", "--iters", "3", "--images", "8",
           "--max-boxes", "8", "--log-every", "1", "--workers", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert re.search(r"^epoch 1/1: loss box [\d.]+ cls [\d.]+ dfl [\d.]+ \| no validation", out, re.M), out
    assert re.search(r"^run: 1 epoch\(s\) x 4 iterations of 2 images at 64 px on 1 device\(s\)", out, re.M), out
    loop, end_to_end = map(float, re.search(
        r"throughput: ([\d.]+) img/s in the loop, ([\d.]+) img/s end to end \(3 iterations of 2", out).groups())
    assert loop > 0 and end_to_end > 0
    wait, step, log = map(float, re.search(
        r"per iteration: data wait ([\d.]+) ms, step ([\d.]+) ms, logging ([\d.]+) ms", out).groups())
    assert step > 0 and wait >= 0 and log >= 0
    assert re.search(r"^epoch end: [\d.]+ s each", out, re.M), out
    assert re.search(r"^projection: [\d.]+ s per epoch of 12000 images", out, re.M), out
    assert re.search(r"compile: build [\d.]+ s \+ first call [\d.]+ s", out)
    busy, bare, loop_ms = map(float, re.search(
        r"device busy: (\d+) % of the loop's time \(step back to back ([\d.]+) ms, loop ([\d.]+) ms", out).groups())
    assert bare > 0 and loop_ms > 0 and busy == round(100 * bare / loop_ms)
    assert "device memory:" in out
    # YOLO11n trains at ~5 GFLOP per image at 320 px, so ~0.2 at 64 px (FLOPs scale with the pixels)
    per_image = float(re.search(r"GFLOP per step \(([\d.]+) per image", out).group(1))
    assert 0.1 < per_image < 0.4, out
