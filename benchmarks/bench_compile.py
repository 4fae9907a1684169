"""Time to build and compile YOLO11n's eval forward and its forward + gradient (CPU).

Phases per function: graph (symbolic forward, plus ``pytensor.grad`` for the gradient),
rewrite (``pytensor.function``: PyTensor's graph rewriting + JAX code generation), first call
(XLA compilation + one run) and a steady-state call. Two modes are compared in the same run:

* ours: ``yolo_lib.compilation.functions.MODE`` (JAX linker, ``fast_compile`` + ``jax`` rewrites);
* reference: PyTensor's stock ``mode="JAX"`` (``fast_run`` + ``jax`` rewrites).

Then the persistent XLA cache: the same function compiled again in a fresh model, reading
XLA's executable from ``jax_compilation_cache_dir`` (what a notebook re-run or CI sees).

The gradient graph is train mode (batch statistics + BN running-stat updates) and
differentiates a stand-in scalar (mean squares of all raw head outputs) w.r.t. all 255
parameters, with an SGD update: the model part of a training step, without the loss.

    python benchmarks/bench_compile.py [--imgsz 320] [--batch 8] [--skip-reference]
Targets (issue 4): eval forward <= 15 s, forward + gradient <= 45 s (graph + rewrite + first call).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pytensor

from yolo_lib.compilation.functions import MODE, images_variable
from yolo_lib.model import build_yolo11


def build_eval(model, batch, size):
    x = images_variable(batch, size, size)
    return [x], [model.forward(x).decoded()], []


def build_grad(model, batch, size):
    x = images_variable(batch, size, size)
    out = model.forward(x, train=True)
    heads = out.box + out.cls
    loss = sum((h ** 2).mean() for h in heads)
    params = list(model.params.values())
    grads = pytensor.grad(loss, params)
    sgd = [(p, p - np.float32(1e-3) * g) for p, g in zip(params, grads)]
    return [x], [loss], out.updates + sgd


def measure(kind, mode, batch, size, seed=0):
    model = build_yolo11("n", nc=2, seed=seed)
    t0 = time.perf_counter()
    inputs, outputs, updates = (build_eval if kind == "eval" else build_grad)(model, batch, size)
    t1 = time.perf_counter()
    fn = pytensor.function(inputs, outputs, updates=updates, mode=mode)
    t2 = time.perf_counter()
    img = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    np.asarray(fn(img)[0])
    t3 = time.perf_counter()
    steady = []
    for _ in range(3):
        t = time.perf_counter()
        np.asarray(fn(img)[0])
        steady.append(time.perf_counter() - t)
    return {"graph": t1 - t0, "rewrite": t2 - t1, "first_call": t3 - t2, "total": t3 - t0,
            "steady_ms": 1000 * float(np.median(steady)), "nodes": len(fn.maker.fgraph.apply_nodes)}


def line(name, r):
    return (f"{name:34s} graph {r['graph']:5.1f} s  rewrite {r['rewrite']:5.1f} s  first call {r['first_call']:5.1f} s"
            f"  = {r['total']:5.1f} s   ({r['nodes']} nodes, then {r['steady_ms']:.0f} ms/call)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=8, help="batch of the gradient function (eval uses 1)")
    ap.add_argument("--skip-reference", action="store_true", help="do not time PyTensor's stock JAX mode")
    args = ap.parse_args()
    os.environ["YOLO_JAX_CACHE"] = "0"  # cold XLA compiles (read at each compile); the cache is timed explicitly
    results = {}
    for kind, batch, target in (("eval", 1, 15.0), ("grad", args.batch, 45.0)):
        ours = measure(kind, MODE, batch, args.imgsz)
        print(line(f"{kind} B={batch} ours (fast_compile+jax)", ours), flush=True)
        if not args.skip_reference:
            ref = measure(kind, "JAX", batch, args.imgsz)
            print(line(f"{kind} B={batch} stock mode='JAX'", ref), flush=True)
            print(f"{'':34s} rewrite ratio stock/ours {ref['rewrite'] / ours['rewrite']:.2f}x, "
                  f"total ratio {ref['total'] / ours['total']:.2f}x", flush=True)
        import jax

        with tempfile.TemporaryDirectory() as cache:
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            measure(kind, MODE, batch, args.imgsz, seed=1)  # fills the persistent cache
            warm = measure(kind, MODE, batch, args.imgsz, seed=2)
            jax.config.update("jax_compilation_cache_dir", None)
        print(line(f"{kind} B={batch} ours, warm XLA cache", warm), flush=True)
        verdict = "MET" if ours["total"] <= target else "MISSED"
        print(f"{'':34s} target {target:.0f} s: cold {ours['total']:.1f} s {verdict}; "
              f"warm cache {warm['total']:.1f} s {'MET' if warm['total'] <= target else 'MISSED'}", flush=True)
        results[kind] = (ours, warm)


if __name__ == "__main__":
    main()
