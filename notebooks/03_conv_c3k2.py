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
# YOLO11 is built from one small unit, used 81 times in YOLO11n: **Conv** = convolution (no
# bias, padding k//2 on every side) → BatchNorm (eps 1e-3) → SiLU (77 of the 81 end in SiLU; the
# four inside C2PSA's attention and feed-forward output have no activation, as counted below). Stacking two 3x3 Convs with a
# residual gives a **Bottleneck**; a **C3k2** block splits a 1x1 Conv's output in two halves,
# sends the last piece through n Bottlenecks (or C3k blocks, themselves small CSP blocks) and
# concatenates every piece before a final 1x1 Conv. Here we build each one from `yolo_lib`,
# count its parameters against Ultralytics, and check it alone against the real Ultralytics
# outputs stored in the fixture.
#
# **Goal:** build the backbone's bricks from `yolo_lib`, see their parameter counts and outputs
# match Ultralytics', and write the C3k2 forward pass yourself (exercise 4).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %% [markdown]
# ## The code and the picture
#
# Here is the code that runs, straight from `yolo_lib` (not a copy): `Conv.forward`, then the
# Bottleneck and the C3k2 block. Below it, the C3k2 block as a diagram: `cv1` widens to 2c
# channels and splits them into two halves y0 and y1; each of the n inner blocks takes the
# *last* piece and appends its output; `cv2` mixes all 2 + n pieces. Every piece reaches the
# output through a short path, which keeps gradients healthy in a deep network.

# %%
import matplotlib.pyplot as plt

from yolo_lib.notebook.diagrams import c3k2_diagram
from yolo_lib.model import build_yolo11
from yolo_lib.nn import C3k2, Bottleneck, Conv
from yolo_lib.notebook.show import show_source

show_source(Conv.forward, Bottleneck.forward, C3k2.__init__, C3k2.forward)
c3k2_diagram()
plt.show()

convs = [m for _, m in build_yolo11("n", nc=2, init=False).named_modules() if isinstance(m, Conv)]
print(f"YOLO11n has {len(convs)} Conv blocks; {sum(m.act for m in convs)} end in SiLU, "
      f"{sum(not m.act for m in convs)} have no activation")
assert (len(convs), sum(m.act for m in convs)) == (81, 77)

# %% [markdown]
# ## Building the blocks and counting their parameters
#
# A `Conv(c1, c2, k, s)` owns `conv.weight` (c2, c1, k, k) plus BatchNorm's `bn.weight` and
# `bn.bias` (trainable) and `bn.running_mean` / `bn.running_var` (buffers, not trainable: they
# are updated by a train-mode forward, never by the optimiser). The names are Ultralytics' own,
# so weights can be exchanged by name. The right-hand column is what Ultralytics 8.4 reports
# for the same layers of YOLO11n (`shared/reference/yolo11n.md`).

# %%
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
# ## Exercise 4 · the C3k2 forward pass
#
# Write `c3k2_forward(block, x, ctx)`: the symbolic forward pass of a `C3k2` block, using its
# children `block.cv1`, `block.cv2` and `block.m` (a `Sequential`: iterate over it,
# `for inner in block.m`, for its blocks), each called as `child(x, ctx)`, and `block.c`, the width of one
# piece. Concatenate with `pt.concatenate(pieces, axis=1)`. The check compiles your graph and
# `yolo_lib`'s on a C3k2 with n = 2 (so that *which* piece each block reads matters) and random
# weights, and reports the worst element if they differ.


# %%
def c3k2_forward(block, x, ctx):
    """YOUR CODE: C3k2 output (B, c2, H, W) for symbolic x (B, c1, H, W)."""
    raise NotImplementedError("exercise 4: split, chain, concatenate, mix")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_c3k2_forward(block, x, ctx):
    """Solution of exercise 4."""
    import pytensor.tensor as pt

    y = block.cv1(x, ctx)
    pieces = [y[:, : block.c], y[:, block.c :]]
    for inner in block.m:
        pieces.append(inner(pieces[-1], ctx))
    return block.cv2(pt.concatenate(pieces, axis=1), ctx)


# %%
from yolo_lib.notebook.exercises import check_c3k2_forward, run_exercise

run_exercise(check_c3k2_forward, c3k2_forward, solution_c3k2_forward);

# %% [markdown]
# ## Each block alone against Ultralytics
#
# The reference holds the output of every top-level layer of a real Ultralytics YOLO11n (nc=2,
# two images, random weights with randomised BatchNorm statistics): 320x320 images in the shared
# fixture, 128x128 in the compact reference shipped with the repository (the next cell prints
# which one you have). These are the weights Ultralytics ran, so parity uses them, never the
# pretrained ones. We load its weights into
# our model, take one layer, feed it the fixture's output of the layer before, and compare with
# the fixture's output of that layer. Tolerance: max |diff| <= 1e-4 x max |reference|.
# `eval` uses the running statistics, `train` the batch statistics.

# %%
import numpy as np

from yolo_lib import weights
from yolo_lib.compilation.functions import block_function
from yolo_lib.weights import reference

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
if ref is not None:
    model = weights.model_from_state_dict(ref.state_dict())
    print(f"loaded {len(model.params)} parameters and {len(model.buffers)} BN buffers from {ref.path.name}")

# %%
outputs = {}
if ref is not None:
    print(f"{'layer':6s} {'block':6s} {'mode':5s} {'in':>16s} {'out':>16s} {'rel. max diff':>14s}")
    for i in (0, 1, 2, 6):
        block = model.model[i]
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
# ## What the first layers see, on a real photograph
#
# Layer 0 (a stride-2 3x3 Conv) halves the resolution, layer 2 (C3k2) keeps it and mixes
# channels, layer 4 (C3k2) works at stride 8. The input is a real photograph that matplotlib ships
# (so it is there offline and in CI), letterboxed to 320x320 with grey bars, exactly as the
# model sees it. `pretrained.choose_weights` picks the weights and prints which: the official
# pretrained `yolo11n.pt` when `python -m yolo_lib.data download-weights` has stored it in the
# data folder, else the reference's **untrained** random initialisation.
#
# * Untrained, the first layer's random filters still respond to the photo's edges and colour
#   regions (a random 3x3 filter is still a local difference or average), and the outline of the
#   face survives to layer 4. Deeper, an untrained network mostly shows the image border (the
#   zero padding of every 3x3 convolution adds up).
# * Pretrained, each channel has learnt *which* patterns to amplify: a channel answers to one
#   kind of edge, colour or texture and stays quiet elsewhere.
#
# Colours are scaled per map to its 1st-99th percentile.

# %%
import pytensor

from yolo_lib.weights import pretrained
from yolo_lib.compilation.functions import MODE, images_variable
from yolo_lib.data.sample_photo import CREDIT, sample_photo

photo, photo_batch, _ = sample_photo(320)
chosen = pretrained.choose_weights(ref)  # the downloaded yolo11n.pt, else the reference's random weights
images = images_variable(1, 320, 320)
layers = chosen.model().forward(images).layers
maps = pytensor.function([images], [layers[i] for i in (0, 2, 4)], mode=MODE)(photo_batch)

fig, axes = plt.subplots(3, 6, figsize=(15, 7.8))
axes[0, 0].imshow(photo)
axes[0, 0].set_title("input 320x320", fontsize=9)
for row, (layer, fmap) in enumerate(zip((0, 2, 4), maps)):
    for ax, c in zip(axes[row, 1 if row == 0 else 0:], range(6)):
        values = np.asarray(fmap)[0, c]
        ax.imshow(values, cmap="viridis", vmin=np.percentile(values, 1), vmax=np.percentile(values, 99))
        ax.set_title(f"layer {layer} ch {c} ({fmap.shape[2]}x{fmap.shape[3]})", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
fig.suptitle(f"{CREDIT}; weights: {chosen.label}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Takeaway
#
# * A YOLO11 Conv is convolution (no bias) -> BatchNorm -> SiLU; a C3k2 splits a 1x1 Conv's
#   output, chains Bottlenecks (or C3k blocks) on the newest piece and concatenates all pieces.
# * Parameter counts and outputs match Ultralytics block by block, in both BN modes, far within
#   the 1e-4 tolerance: the same weights give the same numbers.
#
# ## What to try next
#
# * Count the parameters of `C3k2(128, 128, 2, True)` and predict the number before you print it.
# * Feed the photograph through layer 6 too (stride 16) and compare its maps with layer 4's.
# * With `yolo11n.pt` downloaded (`python -m yolo_lib.data download-weights`), rerun the last cell.
