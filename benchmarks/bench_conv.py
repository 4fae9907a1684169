"""Conv forward+backward: yolo_lib's Conv2d Ops in a compiled PyTensor JAX function vs the same
jax.lax calls in a jitted JAX function, same shapes, same run, interleaved calls.

    python benchmarks/bench_conv.py [--batch 16] [--repeats 30]

Layers (YOLO11n at 320 px input): layer 1, a 3x3 stride-2 conv 16->32 channels on 160x160, and a
3x3 stride-1 conv 32->32 on 80x80. Each call computes y, dL/dx and dL/dw for a given cotangent
of y. Prints median times (ms), the ratio PyTensor / JAX of the medians (target: within 5%) and
the ratio of the fastest calls (less sensitive to other jobs on a shared machine), twice:

* numpy inputs (as from a data loader): both functions copy them to the device;
* JAX device arrays: the PyTensor function is called with ``trust_input = True``; without it
  PyTensor's input validation converts each device array back to numpy (a copy per call).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import yolo_lib  # noqa: F401  (float32 and JAX 32-bit, whatever the import order)

import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
from tqdm import tqdm

from yolo_lib.ops import conv2d

# name: (C_in, H=W, C_out, stride) at 320 px input
LAYERS = {
    "3x3 s2 16->32 @160 (layer 1)": (16, 160, 32, 2),
    "3x3 s1 32->32 @80": (32, 80, 32, 1),
}


def pytensor_step(x_shape, w_shape, stride):
    """Compiled PyTensor (mode JAX) function (x, w, gy) -> (y, dx, dw)."""
    x = pt.tensor("x", dtype="float32", shape=x_shape)
    w = pt.tensor("w", dtype="float32", shape=w_shape)
    y = conv2d(x, w, stride=stride, padding=1)
    gy = pt.tensor("gy", dtype="float32", shape=y.type.shape)
    dx, dw = pytensor.grad((y * gy).sum(), [x, w])
    return pytensor.function([x, w, gy], [y, dx, dw], mode="JAX")


def jax_step(stride):
    """Jitted JAX function (x, w, gy) -> (y, dx, dw) with the same lax convolution."""

    def conv(x, w):
        return jax.lax.conv_general_dilated(
            x, w, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )

    @jax.jit
    def step(x, w, gy):
        y, vjp = jax.vjp(conv, x, w)
        return (y, *vjp(gy))

    return step


def interleaved_medians(fns, args, repeats, label):
    """(median, minimum) seconds per call of each function, calling them in turn (same load for both) and
    swapping the order every round (no advantage from going first)."""
    for fn in fns:
        jax.block_until_ready(fn(*args))  # compile + warm up
        jax.block_until_ready(fn(*args))
    times = [[] for _ in fns]
    for round_ in tqdm(range(repeats), desc=label, leave=False):
        order = list(range(len(fns)))[:: 1 if round_ % 2 == 0 else -1]
        for i in order:
            t0 = time.perf_counter()
            jax.block_until_ready(fns[i](*args))
            times[i].append(time.perf_counter() - t0)
    return [(float(np.median(ts)), float(np.min(ts))) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    print(
        f"machine: {platform.node()} {platform.machine()}, jax {jax.__version__} on {jax.devices()}, "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    rng = np.random.default_rng(0)
    print(
        f"{'layer':32s} {'inputs':>7s} {'batch':>5s} {'PyTensor ms':>12s} {'JAX ms':>9s} {'ratio':>7s} {'min ratio':>9s}  rel. max|diff|"
    )
    for name, (c_in, hw, c_out, stride) in LAYERS.items():
        x = rng.normal(size=(args.batch, c_in, hw, hw)).astype("float32")
        w = (rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype("float32")
        gy = rng.normal(size=(args.batch, c_out, hw // stride, hw // stride)).astype("float32")
        f_pt, f_jax = pytensor_step(x.shape, w.shape, stride), jax_step(stride)
        f_pt_trusted = pytensor_step(x.shape, w.shape, stride)
        f_pt_trusted.trust_input = True
        diff = max(
            float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())
            for a, b in zip(f_pt(x, w, gy), f_jax(x, w, gy))
        )
        cases = {
            "numpy": ([f_pt, f_jax], [x, w, gy]),
            "device": ([f_pt_trusted, f_jax], [jax.device_put(a) for a in (x, w, gy)]),
        }
        for inputs_kind, (fns, inputs) in cases.items():
            (t_pt, min_pt), (t_jax, min_jax) = interleaved_medians(
                fns, inputs, args.repeats, f"{name} {inputs_kind}"
            )
            print(
                f"{name:32s} {inputs_kind:>7s} {args.batch:5d} {1e3 * t_pt:12.2f} {1e3 * t_jax:9.2f} "
                f"{t_pt / t_jax:7.3f} {min_pt / min_jax:9.3f}  {diff:.1e}"
            )


if __name__ == "__main__":
    main()
