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
# # 03 · Conv, Bottleneck and C3k2: the backbone's bricks
#
# YOLO11 is built from one small unit, repeated 81 times: **Conv** = convolution (no bias,
# padding k//2 on every side) → BatchNorm (eps 1e-3) → SiLU. Stacking two 3x3 Convs with a
# residual gives a **Bottleneck**; a **C3k2** block splits a 1x1 Conv's output in two halves,
# sends the last piece through n Bottlenecks (or C3k blocks, themselves small CSP blocks) and
# concatenates every piece before a final 1x1 Conv. Here we build each one from `yolo_lib`,
# count its parameters against Ultralytics, and check it alone against the real Ultralytics
# outputs stored in the fixture.

# %%
from yolo_lib.profile import start

PROFILE = start()

# %% [markdown]
# ## Building the blocks and counting their parameters
#
# A `Conv(c1, c2, k, s)` owns `conv.weight` (c2, c1, k, k) plus BatchNorm's `bn.weight` and
# `bn.bias` (trainable) and `bn.running_mean` / `bn.running_var` (buffers, not trainable: they
# are updated by a train-mode forward, never by the optimiser). The names are Ultralytics' own,
# so weights can be exchanged by name. The right-hand column is what Ultralytics 8.4 reports
# for the same layers of YOLO11n (`shared/reference/yolo11n.md`).

# %%
from yolo_lib.nn import C3k2, Bottleneck, Conv

ULTRALYTICS = {"Conv 3->16 k3 s2 (layer 0)": 464, "Conv 16->32 k3 s2 (layer 1)": 4672,
               "C3k2 32->64 n=1 e=0.25 (layer 2)": 6640, "C3k2 128->128 c3k (layer 6)": 87040}
ours = {"Conv 3->16 k3 s2 (layer 0)": Conv(3, 16, 3, 2), "Conv 16->32 k3 s2 (layer 1)": Conv(16, 32, 3, 2),
        "C3k2 32->64 n=1 e=0.25 (layer 2)": C3k2(32, 64, 1, False, 0.25),
        "C3k2 128->128 c3k (layer 6)": C3k2(128, 128, 1, True)}
print(f"{'block':34s} {'yolo_lib':>9s} {'Ultralytics':>11s}")
for name, block in ours.items():
    print(f"{name:34s} {block.num_parameters():9,d} {ULTRALYTICS[name]:11,d}")
    assert block.num_parameters() == ULTRALYTICS[name]

print("\nparameters of one Bottleneck(16, 16):")
for name, var in Bottleneck(16, 16).named_parameters():
    print(f"  {name:16s} {var.type.shape}")

# %% [markdown]
# ## Each block alone against Ultralytics
#
# The fixture holds the output of every top-level layer of a real Ultralytics YOLO11n (nc=2, two
# 320x320 images, random weights with randomised BatchNorm statistics). We load its weights into
# our model, take one layer, feed it the fixture's output of the layer before, and compare with
# the fixture's output of that layer. Tolerance: max |diff| <= 1e-4 x max |reference|.
# `eval` uses the running statistics, `train` the batch statistics.

# %%
import numpy as np

from yolo_lib import weights
from yolo_lib.compiled import block_function
from yolo_lib import reference

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
if ref is not None:
    model = weights.model_from_state_dict(ref.state_dict())
    print(f"loaded {len(model.params)} parameters and {len(model.buffers)} BN buffers from {ref.path.name}")

# %%
outputs = {}
if ref is not None:
    print(f"{'layer':6s} {'block':6s} {'mode':5s} {'in':>16s} {'out':>16s} {'rel. max diff':>14s}")
    for i in (0, 1, 2, 6):
        block = model.model._modules[str(i)]
        for mode in ("eval", "train"):
            x_in = ref["input/img"] if i == 0 else ref[f"{mode}/layer{i - 1:02d}"]
            y = block_function(block, [x_in.shape], train=(mode == "train"))(x_in)
            want = ref[f"{mode}/layer{i:02d}"]
            err = float(np.abs(y - want).max() / np.abs(want).max())
            print(f"{i:<6d} {type(block).__name__:6s} {mode:5s} {str(x_in.shape[1:]):>16s} {str(y.shape[1:]):>16s} {err:14.2e}")
            assert err <= 1e-4, (i, mode, err)
            outputs[i, mode] = y
    print("every block matches Ultralytics within 1e-4")

# %% [markdown]
# ## What the first layers see
#
# Layer 0 (a stride-2 3x3 Conv) halves the resolution; layer 2 (C3k2) keeps it and mixes
# channels. With random weights the maps are not meaningful detectors yet, but the edges and
# colour blobs of the input already show through the first layer.

# %%
import matplotlib.pyplot as plt

if ref is not None:
    fig, axes = plt.subplots(3, 8, figsize=(16, 6.4))
    axes[0, 0].imshow(ref["input/img"][0].transpose(1, 2, 0))
    axes[0, 0].set_title("input {}x{}".format(*ref["input/img"].shape[2:]))
    for ax, c in zip(axes[0, 1:], range(7)):
        ax.imshow(outputs[0, "eval"][0, c], cmap="viridis")
        ax.set_title(f"layer 0 ch {c}")
    for ax, c in zip(axes[1], range(8)):
        ax.imshow(outputs[2, "eval"][0, c], cmap="viridis")
        ax.set_title(f"layer 2 ch {c}")
    for ax, c in zip(axes[2], range(8)):
        ax.imshow(outputs[6, "eval"][0, c], cmap="viridis")
        ax.set_title(f"layer 6 ch {c}")
    for ax in axes.ravel():
        ax.axis("off")
    plt.tight_layout()
    plt.show()
