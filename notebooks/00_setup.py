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
# # 00 · Setup: is this machine ready for the workshop?
#
# Every notebook starts with the same cell: it reads `YOLO_PROFILE` (`smoke` for a laptop or CI:
# tiny data, few steps, small images; `full` for the real H100 run; the default is `full` when JAX
# sees a GPU, else `smoke`) and prints what runs where: the JAX backend and devices, the PyTensor
# and JAX versions, and `floatX` (float32: we train in single precision).
#
# **Goal:** know that this machine can run the workshop: every requirement OK, the devices JAX
# will compute on, and a first PyTensor function compiled by JAX with its gradient checked.

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %% [markdown]
# ## The map: YOLO11n, and which notebook teaches each part
#
# Every box is one of the model's 24 layers (plus the loss), wired as in Ultralytics'
# `yolo11.yaml`; `[NN]` is the notebook that builds it. 01 derives BatchNorm's backward pass
# (inside every Conv), 02 writes the convolution, pooling and upsampling Ops, 03 the Conv and
# C3k2 blocks, 04 SPPF and the C2PSA attention, 05 the Detect head and DFL decoding, 06 the
# whole model and its neck, 07 the loss; 08 prepares the data, then evaluation, training, ONNX
# export and the browser demo follow. Each notebook from 01 on has exercises: a cell for your
# code, a check that says exactly what is wrong, and a hidden solution.

# %%
import matplotlib.pyplot as plt

from yolo_lib.notebook.diagrams import yolo11_map

yolo11_map()
plt.show()

# %% [markdown]
# ## The environment check
#
# One line per requirement, OK or FAIL. The same function is called by the unit tests
# (`tests/test_envcheck.py`), so what you see here is what CI checks. With `YOLO_PROFILE=full`
# the check fails when JAX has no GPU: on an H100 host that means JAX was installed without
# CUDA (`pip install -e ".[cuda]"`), and training would silently run on the CPU.

# %%
from yolo_lib.notebook.envcheck import check_environment, report

report(check_environment(PROFILE.name))

# %% [markdown]
# ## A first PyTensor function on JAX
#
# PyTensor builds a symbolic graph; `mode="JAX"` lowers it to JAX, which compiles it with XLA
# for whatever device JAX found. Here: the SiLU activation YOLO11 uses everywhere,
# `silu(x) = x * sigmoid(x)`, and its gradient, checked against the formula
# `sigmoid(x) * (1 + x * (1 - sigmoid(x)))`.

# %%
import numpy as np
import pytensor
import pytensor.tensor as pt

x = pt.vector("x")
y = x * pt.sigmoid(x)
f = pytensor.function([x], [y, pytensor.grad(y.sum(), x)], mode="JAX")

xs = np.linspace(-4, 4, 9, dtype="float32")
value, grad = f(xs)
sig = 1 / (1 + np.exp(-xs))
print("silu :", np.round(np.asarray(value), 4))
print("dsilu:", np.round(np.asarray(grad), 4))
np.testing.assert_allclose(np.asarray(grad), sig * (1 + xs * (1 - sig)), rtol=1e-5, atol=1e-6)
print("gradient matches the hand-derived formula")

# %% [markdown]
# ## Takeaway
#
# * Every line above is OK: the packages import, JAX has a device, PyTensor computes in float32
#   and the data folder is writable. A FAIL names what to install or fix.
# * PyTensor builds a symbolic graph; `pytensor.grad` differentiates it symbolically and
#   `mode="JAX"` compiles both with XLA, for whichever device JAX found.
#
# ## What to try next
#
# * Replace SiLU by `pt.tanh(x)` and check its gradient against `1 - tanh(x)**2`.
# * `pytensor.dprint(f)` prints the compiled graph: find the fused elementwise operation.
# * Notebook 01 writes a gradient by hand for an operation PyTensor lacks: BatchNorm.
