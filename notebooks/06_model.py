# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The whole YOLO11: 24 layers, five scales, one forward pass
#
# `build_yolo11(scale, nc)` wires the blocks of notebooks 03-05 exactly like Ultralytics'
# `yolo11.yaml`: a backbone (layers 0-10), a neck that upsamples and concatenates (11-22) and the
# Detect head (23) on layers 16, 19 and 22. Scales n/s/m/l/x only change widths (x0.25 ... x1.5,
# capped), repeats (x0.5 or x1) and whether C3k2 uses C3k blocks.

# %%
from yolo_lib.profile import start

PROFILE = start()

# %% [markdown]
# ## The 24-layer table
#
# Shapes come from PyTensor's static shape inference on a (1, 3, 320, 320) input: nothing is
# compiled. The last column is Ultralytics' own per-layer parameter count for YOLO11n, nc=2.

# %%
from yolo_lib.model import build_yolo11

ULTRALYTICS_N = [464, 4672, 6640, 36992, 26080, 147712, 87040, 295424, 346112, 164608, 249728, 0, 0,
                 111296, 0, 0, 32096, 36992, 0, 86720, 147712, 0, 378880, 431062]
model = build_yolo11("n", nc=2, seed=0)
print(f"{'i':>2s} {'from':>12s} {'block':8s} {'args':32s} {'output':>12s} {'params':>9s} {'Ultralytics':>11s}")
for row, theirs in zip(model.layer_table(320, 320), ULTRALYTICS_N):
    print(f"{row['index']:2d} {str(row['src']):>12s} {row['block']:8s} {str(row['args']):32s} {row['shape']:>12s} "
          f"{row['params']:9,d} {theirs:11,d}")
    assert row["params"] == theirs
print(f"total {model.num_parameters():,d} parameters ({len(model.params)} trainable tensors, "
      f"{len(model.buffers)} BN buffers, 16 frozen DFL weights)")

# %% [markdown]
# ## All five scales
#
# Counting needs no compilation and no random draw (`init=False`).

# %%
TABLE = {("n", 2): 2_590_230, ("n", 80): 2_624_080, ("s", 2): 9_428_566, ("s", 80): 9_458_752,
         ("m", 2): 20_054_550, ("m", 80): 20_114_688, ("l", 2): 25_312_022, ("l", 80): 25_372_160,
         ("x", 2): 56_876_086, ("x", 80): 56_966_176}
print(f"{'scale':5s} {'nc':>3s} {'yolo_lib':>12s} {'Ultralytics':>12s}")
for (scale, nc), theirs in TABLE.items():
    ours = build_yolo11(scale, nc, init=False).num_parameters()
    print(f"{scale:5s} {nc:3d} {ours:12,d} {theirs:12,d}")
    assert ours == theirs

# %% [markdown]
# ## Every layer against Ultralytics
#
# The parity module (also `python -m yolo_lib.parity FILE.npz`) loads the fixture's weights,
# compiles the eval and train forwards once, and compares every layer, the raw head outputs,
# the decoded output and the BN running statistics after one train forward.

# %%
import numpy as np

from yolo_lib import parity
from yolo_lib import reference

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
case = parity.ParityCase(ref)
if case is not None:
    checks = parity.eval_checks(case) + parity.train_checks(case)
    worst = {}
    for c in checks:
        group = c.name.split("/")[0] + ("/bn" if "bn_after" in c.name else "/out")
        worst[group] = max(worst.get(group, 0.0), c.value)
        if "layer" in c.name or "raw" in c.name or "inference" in c.name:
            print(f"{c.name:32s} {c.metric:26s} {c.value:9.2e}  tol {c.tol:.0e}  {'ok' if c.ok else 'FAIL'}")
    print(f"{len(checks)} checks, all ok: {all(c.ok for c in checks)}; worst per group: "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    assert all(c.ok for c in checks)

# %% [markdown]
# ## How far the error travels
#
# Float32 rounding grows layer by layer; train mode (batch statistics of only two images) grows
# it faster. Everything stays two orders of magnitude below the 1e-4 tolerance.

# %%
import matplotlib.pyplot as plt

if case is not None:
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for mode in ("eval", "train"):
        vals = [next(c.value for c in checks if c.name == f"{mode}/layer{i:02d}") for i in range(23)]
        ax.semilogy(range(23), vals, marker="o", label=mode)
    ax.axhline(1e-4, color="r", linestyle="--", label="tolerance")
    ax.set_xlabel("layer"); ax.set_ylabel("max|diff| / max|ref|"); ax.legend()
    plt.show()

# %% [markdown]
# ## Timing a forward pass
#
# A compiled function is specialised to one input shape and cached on the model
# (`yolo_lib.compiled.eval_function`). The first call includes XLA's compilation; later calls
# are the real cost. Ultralytics (PyTorch, 2-core CPU, 320x320, batch 1) takes 17.5 ms.

# %%
import time

from yolo_lib.compiled import eval_function

size = PROFILE.imgsz
t0 = time.perf_counter()
forward = eval_function(model, 1, size, size)
t1 = time.perf_counter()
img = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
np.asarray(forward(img))
t2 = time.perf_counter()
times = []
for _ in range(10):
    t = time.perf_counter()
    np.asarray(forward(img))
    times.append(time.perf_counter() - t)
print(f"{size}x{size}, batch 1: graph + rewrite {t1 - t0:.1f} s, first call (XLA) {t2 - t1:.1f} s, "
      f"then median {1000 * np.median(times):.1f} ms per image")
print("output", np.asarray(forward(img)).shape, "= (batch, 4 + nc, anchors)")
