"""Finite-difference gradient checks of every yolo_lib.ops Op, in float64, in a separate process.

``floatX=float64`` switches JAX to 64-bit mode process-wide, so the checks run in a subprocess
(tests/ops_verify_grad_worker.py) while the rest of the test session stays float32.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("ops_verify_grad_worker.py")
EXPECTED_CHECKS = 5 * 3 + 1 + 3 + 3 + 1 + 2 * 2 + 3 + 1 + 5  # conv, pool, upsample, BN, unknown-shape checks


def test_verify_grad_float64_all_ops():
    env = {**os.environ, "PYTENSOR_FLAGS": "floatX=float64"}
    proc = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=600)
    ok_lines = [line for line in proc.stdout.splitlines() if line.startswith("OK ")]
    assert proc.returncode == 0, (
        f"gradient check failed after {len(ok_lines)} checks:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    )
    assert len(ok_lines) == EXPECTED_CHECKS, proc.stdout
