"""YOLO11n (nc=2) on CPU, ours vs Ultralytics/PyTorch side by side in one run: training step,
eval forward, and process start -> first finished training step (cold and warm caches).

    python benchmarks/bench_vs_ultralytics.py [--batch 8] [--imgsz 320] [--rounds 10]

* first step: a fresh Python process (``--child``) imports yolo_lib, builds the model and a
  :class:`yolo_lib.train.step.TrainingStep` (float images, no EMA) and runs one step; the time
  counts from just before the process is started to the end of that step. Cold: an empty
  ``YOLO_DATA_DIR`` (no step cache, no XLA cache); warm: the same process again, reading both caches. Ultralytics: the worker
  process (``torch_step_worker.py``, run with ``--torch-python``) from start to its first step.
* step / eval: medians over ``--rounds`` alternating rounds (ours first in even rounds, PyTorch
  first in odd ones), same batch size, image size and thread count (``--threads``, default all
  CPUs). Targets (issue 18): step <= 1.5x (goal 1.0x), eval <= 1.2x, first step <= 30 s cold
  and <= 10 s warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_json(stream) -> dict:
    """The next JSON line of a worker (skipping the log lines Ultralytics prints)."""
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the PyTorch worker stopped; see its error output above")
        if line.startswith("{"):
            return json.loads(line)


def child(args) -> None:
    """Process start -> first finished step, printed as JSON (time counted from args.launch)."""
    import numpy as np

    import yolo_lib  # noqa: F401
    from yolo_lib.loss import from_image_lists
    from yolo_lib.model import build_yolo11
    from yolo_lib.train.config import TrainConfig
    from yolo_lib.train.optimizer import SGD
    from yolo_lib.train.step import TrainingStep

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (args.batch, 3, args.imgsz, args.imgsz)).astype(np.float32)
    boxes = [np.array([[0.5, 0.5, 0.2, 0.3]])] * args.batch
    targets = from_image_lists(boxes, [np.array([0])] * args.batch, max_boxes=16)
    model = build_yolo11("n", nc=2, seed=0)
    t_build = time.time()
    step = TrainingStep(model, SGD(model.params, TrainConfig.weight_decay, TrainConfig.max_grad_norm), None,
                        args.batch, args.imgsz, 16, input_format="normalised")
    t_compiled = time.time()
    step.run(images, targets, lr=0.01)
    t_done = time.time()
    print(json.dumps(dict(first_step_s=t_done - args.launch, imports_model_s=t_build - args.launch,
                          step_build_s=t_compiled - t_build, first_call_s=t_done - t_compiled)), flush=True)


def first_step(args, data_dir: str) -> dict:
    env = dict(os.environ, YOLO_DATA_DIR=data_dir, PYTHONPATH=str(HERE.parent))
    launch = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", "--launch", repr(launch), "--batch", str(args.batch),
                          "--imgsz", str(args.imgsz)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"first-step process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--torch-python", default="/work/refvenv/bin/python")
    ap.add_argument("--skip-first-step", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--launch", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    load0 = os.getloadavg()
    print(f"{os.cpu_count()} cpus, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    launch = time.time()
    torch_proc = subprocess.Popen([args.torch_python, str(HERE / "torch_step_worker.py"), repr(launch),
                                   str(args.batch), str(args.imgsz), str(args.threads)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    torch_first = read_json(torch_proc.stdout)["first_step_s"]
    print(f"Ultralytics: process start -> first step {torch_first:.1f} s", flush=True)

    if not args.skip_first_step:
        with tempfile.TemporaryDirectory() as tmp:
            cold = first_step(args, tmp)
            print(f"ours, cold caches: {json.dumps(cold)}", flush=True)
            warm = first_step(args, tmp)
            print(f"ours, warm caches: {json.dumps(warm)}", flush=True)

    import numpy as np

    import yolo_lib  # noqa: F401
    from yolo_lib.compilation.functions import eval_function
    from yolo_lib.loss import from_image_lists
    from yolo_lib.model import build_yolo11
    from yolo_lib.train.config import TrainConfig
    from yolo_lib.train.optimizer import SGD
    from yolo_lib.train.step import TrainingStep

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (args.batch, 3, args.imgsz, args.imgsz)).astype(np.float32)
    boxes, classes = [], []
    for _ in range(args.batch):
        n = int(rng.integers(1, 17))
        wh = rng.uniform(0.03, 0.5, (n, 2))
        boxes.append(np.concatenate([rng.uniform(wh / 2, 1 - wh / 2), wh], 1))
        classes.append(rng.integers(0, 2, n))
    targets = from_image_lists(boxes, classes, max_boxes=16)
    model = build_yolo11("n", nc=2, seed=0)
    step = TrainingStep(model, SGD(model.params, TrainConfig.weight_decay, TrainConfig.max_grad_norm), None,
                        args.batch, args.imgsz, 16, input_format="normalised")
    evaluate = eval_function(model, args.batch, args.imgsz, args.imgsz)
    ours = {"step": lambda: step.run(images, targets, lr=0.01), "eval": lambda: np.asarray(evaluate(images))}
    for fn in ours.values():  # compile and warm up
        fn()
        fn()

    def theirs(kind):
        torch_proc.stdin.write(kind + "\n")
        torch_proc.stdin.flush()
        return read_json(torch_proc.stdout)["s"]

    times = {k: {"ours": [], "theirs": []} for k in ours}
    for rnd in range(args.rounds):
        for kind, fn in ours.items():
            order = ("ours", "theirs") if rnd % 2 == 0 else ("theirs", "ours")
            for who in order:
                if who == "ours":
                    t = time.perf_counter()
                    fn()
                    times[kind]["ours"].append(time.perf_counter() - t)
                else:
                    times[kind]["theirs"].append(theirs(kind))
    torch_proc.stdin.close()
    torch_proc.wait()
    load1 = os.getloadavg()
    print(f"\nbatch {args.batch}, {args.imgsz}x{args.imgsz}, {args.threads} threads, {args.rounds} alternating rounds")
    print(f"{'':6s} {'ours ms':>9s} {'Ultralytics ms':>15s} {'ratio':>6s} {'min ratio':>9s}")
    for kind, t in times.items():
        mo, mt = statistics.median(t["ours"]), statistics.median(t["theirs"])
        print(f"{kind:6s} {1e3 * mo:9.1f} {1e3 * mt:15.1f} {mo / mt:6.2f} {min(t['ours']) / min(t['theirs']):9.2f}")
    print(f"load average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
