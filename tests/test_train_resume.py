"""Exact resume: a run killed (kill -9) and interrupted (Ctrl-C), each resumed, ends with the
weights of an uninterrupted run; corrupt checkpoints and other data are refused.

The interrupted run augments in worker processes and the uninterrupted one in a thread, so the
comparison also shows that both loaders train alike, and its Ctrl-C goes to the whole process
group, as a terminal sends it: the workers must leave it to the trainer."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from yolo_lib.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

WORKER = Path(__file__).with_name("train_worker.py")
CKPT = Path("weights") / "last_checkpoint.npz"
TIMEOUT = 1200


def _start(run_dir, resume=False, pause_at=None, processes=0):
    """The worker in a process group of its own (``os.killpg`` then signals it like a terminal)."""
    args = [sys.executable, str(WORKER), str(run_dir)] + (["--resume"] if resume else [])
    args += ["--pause-at", pause_at] if pause_at else []
    args += ["--processes", str(processes)] if processes else []
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_until_paused(proc, run_dir):
    """Wait until the worker pauses at its ``--pause-at`` batch (or ended: an error)."""
    marker = run_dir / "paused"
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and proc.poll() is None:
        if marker.exists():
            marker.unlink()
            return
        time.sleep(0.05)
    raise AssertionError(f"the run never paused: {proc.communicate()[0][-3000:]}")


def _finish(proc):
    out, _ = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    """The reference run, started at once: it runs beside the interrupted one (2 cores, half the wait)."""
    run = tmp_path_factory.mktemp("uninterrupted")
    return run, _start(run)


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_run):
    run, proc = uninterrupted_run
    rc, out = _finish(proc)
    assert rc == 0, out[-3000:]
    return load_checkpoint(run / CKPT)


def test_kill_and_ctrl_c_then_resume_equals_uninterrupted(uninterrupted_run, tmp_path, request):
    run = tmp_path / "run"
    proc = _start(run, pause_at="1:2", processes=2)  # epoch 2 (0-based 1), before its third batch
    _wait_until_paused(proc, run)
    proc.kill()  # kill -9 mid-epoch: the last checkpoint is the end of epoch 1
    proc.wait()
    assert load_checkpoint(run / CKPT)["epoch"] == 1
    proc = _start(run, resume=True, pause_at="2:2")
    _wait_until_paused(proc, run)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in epoch 3: finishes the iteration, saves mid-epoch, exit 130
    rc, out = _finish(proc)
    assert rc == 130, out[-3000:]
    assert "resume with" in out
    mid = load_checkpoint(run / CKPT)
    assert mid["epoch"] == 2 and 0 < mid["batch_in_epoch"] < 4
    rc, out = _finish(_start(run, resume=True))
    assert rc == 0, out[-3000:]
    resumed = load_checkpoint(run / CKPT)
    uninterrupted = request.getfixturevalue("uninterrupted")
    assert resumed["iteration"] == uninterrupted["iteration"] == 12
    for group in ("model", "ema"):
        a = uninterrupted[group] if group == "model" else uninterrupted["ema"]["values"]
        b = resumed[group] if group == "model" else resumed["ema"]["values"]
        worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        assert worst <= 1e-6, f"{group}: max abs difference {worst}"
    assert resumed["ema"]["updates"] == uninterrupted["ema"]["updates"] >= 5  # several optimizer steps
    a, b = uninterrupted["optimizer"]["grad_sum"], resumed["optimizer"]["grad_sum"]
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-6


def test_corrupt_checkpoint_refused(uninterrupted, tmp_path):
    path = save_checkpoint(uninterrupted, tmp_path / "c.npz")
    assert load_checkpoint(path)["iteration"] == uninterrupted["iteration"]
    data = bytearray(path.read_bytes())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    flipped = tmp_path / "flipped.npz"
    data[len(data) // 3] ^= 0xFF  # inside an array member: CRC mismatch
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(flipped)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


def test_atomic_write_keeps_old_file_on_failure(uninterrupted, tmp_path, monkeypatch):
    path = save_checkpoint(uninterrupted, tmp_path / "c.npz")
    before = path.read_bytes()

    def crash_midway(f, **arrays):  # a crash while writing: half a file, then an error
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr("yolo_lib.train.checkpoint.np.savez", crash_midway)
    with pytest.raises(OSError):
        save_checkpoint(uninterrupted, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["iteration"] == uninterrupted["iteration"]
