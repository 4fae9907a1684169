"""benchmarks/bench_train_loop.py at the smallest settings: it runs the loop and reports sane figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_loop.py"


def test_bench_train_loop_smoke():
    cmd = [sys.executable, str(SCRIPT), "--imgsz", "64", "--batch", "4", "--iters", "2", "--images", "8",
           "--nc", "2", "--max-boxes", "16", "--log-every", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout
    assert len(re.findall(r"^iter \d/2 box [\d.]+ cls [\d.]+ dfl [\d.]+$", out, re.M)) == 2, out
    rate = float(re.search(r"throughput: ([\d.]+) img/s end to end \(2 iterations of 4", out).group(1))
    assert rate > 0
    wait, step, log = map(float, re.search(
        r"per iteration: data wait ([\d.]+) ms, step ([\d.]+) ms, logging ([\d.]+) ms", out).groups())
    assert step > 0 and wait >= 0 and log >= 0
    assert re.search(r"compile: graph [\d.]+ s \+ first call [\d.]+ s", out)
    assert "device memory:" in out
    # YOLO11n trains at ~5 GFLOP per image at 320 px, so ~0.2 at 64 px (FLOPs scale with the pixels)
    per_image = float(re.search(r"GFLOP per step \(([\d.]+) per image", out).group(1))
    assert 0.1 < per_image < 0.4, out
