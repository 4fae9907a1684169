"""Per-layer CPU profile of YOLO11n's convolutions: forward, input gradient and weight gradient
of every distinct conv shape, in jitted JAX (each candidate lowering of
:mod:`yolo_lib.ops.conv_lowering`, and the one it chooses) beside PyTorch for the same shapes.

    python benchmarks/bench_conv_layers.py                    # 320 px, batch 8 (several minutes)
    python benchmarks/bench_conv_layers.py --imgsz 128 --batch 2 --repeats 3   # ~1 minute

The conv shapes come from the model itself (:func:`yolo_lib.ops.conv_shapes.conv_inventory`, nc=2).
PyTorch runs in the reference environment (``--torch-python``, default /work/refvenv/bin/python)
as a worker process (``benchmarks/torch_conv_worker.py``); each round times JAX then PyTorch or
the reverse, alternating, so both see the same machine load. Both use ``--threads`` threads
(XLA: ``--xla_cpu_multi_thread_eigen`` stays on, the CPU count is what the process sees).
Times are medians per call in ms; totals weight each shape by how many layers share it.
The input gradient of the first layer (the images) is not part of a training step but is shown.
``--json PATH`` writes every timing for later analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import yolo_lib  # noqa: F401  (float32 defaults before jax/pytensor import)

import jax
import numpy as np
from tqdm import tqdm

from yolo_lib.ops.conv_shapes import conv_inventory
from yolo_lib.model import build_yolo11
from yolo_lib.ops.conv_lowering import LOWERINGS, applicable, choose

KINDS = ("forward", "grad_input", "grad_weight")
WORKER = Path(__file__).with_name("torch_conv_worker.py")


def jax_functions(shape):
    """kind -> name -> (jitted function, its arguments as device arrays)."""
    rng = np.random.default_rng(0)
    n, c, h, w = shape.x
    (sh, sw), ((t, b), (l, r)) = shape.stride, shape.padding
    ho, wo = (h + t + b - shape.w[2]) // sh + 1, (w + l + r - shape.w[3]) // sw + 1
    x = jax.device_put(rng.normal(size=shape.x).astype(np.float32))
    wt = jax.device_put((0.1 * rng.normal(size=shape.w)).astype(np.float32))
    gy = jax.device_put(rng.normal(size=(n, shape.w[0], ho, wo)).astype(np.float32))
    params = dict(stride=shape.stride, padding=shape.padding, dilation=shape.dilation, groups=shape.groups)
    args = {"forward": (x, wt), "grad_input": (wt, gy, x), "grad_weight": (x, gy, wt)}
    return {kind: {name: (jax.jit(build(params)), args[kind])
                   for name, build in LOWERINGS[kind].items() if applicable(kind, name, shape)}
            for kind in KINDS}


def time_calls(fn, args, repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - t)
    return out


class TorchWorker:
    def __init__(self, python: str, threads: int):
        self.proc = subprocess.Popen([python, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.threads = threads

    def time(self, shape, repeats):
        (t, b), (l, r) = shape.padding
        if t != b or l != r:
            raise ValueError(f"PyTorch needs symmetric padding, got {shape.padding}")
        req = dict(x=shape.x, w=shape.w, stride=shape.stride, padding=(t, l), dilation=shape.dilation,
                   groups=shape.groups, repeats=repeats, threads=self.threads)
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="alternating JAX/PyTorch rounds per shape")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per round")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--torch-python", default="/work/refvenv/bin/python")
    ap.add_argument("--only", default="", help="only shapes whose label contains this text")
    ap.add_argument("--json", default="", help="write all timings to this file")
    args = ap.parse_args()

    load0 = os.getloadavg()
    print(f"jax {jax.__version__} on {jax.devices()}, {os.cpu_count()} cpus, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    layers = [lay for lay in conv_inventory(build_yolo11("n", nc=2, seed=0), args.batch, args.imgsz, args.imgsz)
              if args.only in lay.shape.label()]
    torch_worker = TorchWorker(args.torch_python, args.threads)
    results = []
    for lay in tqdm(layers, desc="conv shapes"):
        fns = jax_functions(lay.shape)
        for kind in KINDS:  # compile + warm up
            for fn, fargs in fns[kind].values():
                jax.block_until_ready(fn(*fargs))
        times = {kind: {name: [] for name in fns[kind]} | {"torch": []} for kind in KINDS}
        for rnd in range(args.rounds):
            def run_jax():
                for kind in KINDS:
                    for name, (fn, fargs) in fns[kind].items():
                        times[kind][name] += time_calls(fn, fargs, args.repeats)

            def run_torch():
                for kind, ts in torch_worker.time(lay.shape, args.repeats).items():
                    times[kind]["torch"] += ts

            for step in ((run_jax, run_torch) if rnd % 2 == 0 else (run_torch, run_jax)):
                step()
        med = {kind: {name: 1e3 * statistics.median(ts) for name, ts in d.items()} for kind, d in times.items()}
        chosen = {kind: choose(kind, lay.shape) for kind in KINDS}
        results.append(dict(label=lay.shape.label(), count=lay.count, median_ms=med, chosen=chosen))
    torch_worker.close()

    print(f"\nYOLO11n nc=2 @{args.imgsz}, batch {args.batch}; median ms per call "
          f"(rounds {args.rounds} x {args.repeats} calls); 'best' = fastest candidate, * = chosen lowering")
    head = f"{'n':>2} {'conv':28s}"
    for kind in KINDS:
        head += f" | {kind:>11s}: {'lax':>7s} {'best':>12s} {'torch':>7s}"
    print(head)
    totals = {kind: {"lax": 0.0, "chosen": 0.0, "best": 0.0, "torch": 0.0} for kind in KINDS}
    for res in results:
        line = f"{res['count']:2d} {res['label']:28s}"
        for kind in KINDS:
            m = res["median_ms"][kind]
            cands = {k: v for k, v in m.items() if k != "torch"}
            best = min(cands, key=cands.get)
            mark = "*" if best == res["chosen"][kind] else " "
            line += f" | {'':11s}  {m['lax']:7.2f} {best[:4]:>4s}{mark}{m[best]:7.2f} {m['torch']:7.2f}"
            for key, v in (("lax", m["lax"]), ("chosen", m[res["chosen"][kind]]), ("best", m[best]), ("torch", m["torch"])):
                totals[kind][key] += res["count"] * v
        print(line)
    print("\ntotals over all conv layers (ms, each shape x its layer count):")
    print(f"{'':12s} {'lax':>9s} {'chosen':>9s} {'best':>9s} {'torch':>9s} {'chosen/torch':>13s}")
    for kind in KINDS:
        t = totals[kind]
        print(f"{kind:12s} {t['lax']:9.1f} {t['chosen']:9.1f} {t['best']:9.1f} {t['torch']:9.1f} {t['chosen'] / t['torch']:13.2f}")
    alls = {k: sum(totals[kind][k] for kind in KINDS) for k in ("lax", "chosen", "best", "torch")}
    print(f"{'all':12s} {alls['lax']:9.1f} {alls['chosen']:9.1f} {alls['best']:9.1f} {alls['torch']:9.1f} {alls['chosen'] / alls['torch']:13.2f}")
    load1 = os.getloadavg()
    print(f"load average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), load=[load0, load1], results=results), indent=1))


if __name__ == "__main__":
    main()
