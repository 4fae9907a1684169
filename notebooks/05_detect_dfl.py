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
# # 05 · The Detect head and DFL decoding
#
# The head looks at three feature maps: P3 (stride 8), P4 (stride 16), P5 (stride 32). Every
# cell of every map is an **anchor**: at 320x320 that is 40x40 + 20x20 + 10x10 = 2100 anchors.
# Per anchor the head predicts
#
# * a **distance distribution** per box side (left, top, right, bottom): 16 logits each, a
#   softmax over bins 0..15 whose expectation is the distance from the anchor centre to that
#   side in grid cells (Distribution Focal Loss, "DFL");
# * **class logits**, one per class, turned into independent sigmoid scores.
#
# **Goal:** know how the head's raw outputs become boxes and scores (anchors, strides, the
# class-bias prior, DFL's expectation), see the decoded output match Ultralytics', and write the
# DFL decoding yourself (exercise 6).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %% [markdown]
# ## The code and the picture
#
# The head's forward pass and the decoding, straight from `yolo_lib`, and the head as a diagram.
#
# **DFL decoding, in equations.** For anchor $a$ (centre $(a_x, a_y)$ in grid cells, stride
# $s$) and side $k \in \{l, t, r, b\}$ the head gives 16 logits $z_{k,0..15}$. Then
# $$p_{k,j} = \frac{e^{z_{k,j}}}{\sum_{i=0}^{15} e^{z_{k,i}}}, \qquad
#   d_k = \sum_{j=0}^{15} j\, p_{k,j} \quad\text{(grid cells, } 0 \le d_k \le 15),$$
# $$x_1 = a_x - d_l,\; y_1 = a_y - d_t,\; x_2 = a_x + d_r,\; y_2 = a_y + d_b, \qquad
#   (c_x, c_y, w, h) = s\,\Big(\tfrac{x_1+x_2}{2}, \tfrac{y_1+y_2}{2}, x_2 - x_1, y_2 - y_1\Big)\ \text{px}.$$
#
# **Why a distribution, not one number per side?** Where a box edge lies is often ambiguous
# (occlusion, blur, a sleeve that may or may not belong to the person). A distribution can say
# so: a sharp peak is a confident edge, a broad or two-peaked one an uncertain edge, and the
# expectation still gives a sub-cell position. Training (notebook 07) puts the target's mass on
# the two bins around the true distance, which is a smoother signal than regressing one number.
#
# **What `reg_max` = 16 limits.** The expectation of bins 0..15 is at most 15 grid cells, so an
# anchor can reach a box side at most 15·s pixels away: 120 px on P3 (stride 8), 240 px on P4,
# 480 px on P5, i.e. boxes up to 240, 480 and 960 px wide around the anchor. Larger objects must
# be predicted by a coarser level; the loss clips training targets to 14.99 cells.

# %%
import matplotlib.pyplot as plt

from yolo_lib.notebook.diagrams import detect_diagram
from yolo_lib.geometry import corners, dfl_distances
from yolo_lib.nn import Detect, decode, dist2bbox_xywh
from yolo_lib.notebook.show import show_source

show_source(Detect.forward, dfl_distances, corners, dist2bbox_xywh, decode)
detect_diagram()
plt.show()
for s_ in Detect.strides:
    print(f"stride {s_:2d}: a side at most 15 x {s_} = {15 * s_:3d} px from the anchor, box at most {30 * s_} px wide")

# %% [markdown]
# ## Parameters, and the bias prior
#
# Box branch per level: Conv3x3 → Conv3x3 → 1x1 conv with bias to 64 = 4 sides x 16 bins.
# Class branch: (depthwise 3x3 → 1x1) twice → 1x1 conv with bias to nc. The last biases are
# initialised like Ultralytics 8.4: box 2.0 (Ultralytics 8.3.x used 1.0: a checkpoint or a
# paper figure from 8.3 starts from slightly different box logits), class
# log(5 / nc / (640 / stride)^2), i.e. "about 5 objects per 640x640 image" as prior
# probability, so the first losses are sane.

# %%
import math

for nc, ultralytics in ((2, 431_062), (80, 464_912)):
    head = Detect(nc, (64, 128, 256))
    print(f"Detect nc={nc:2d}: yolo_lib {head.num_parameters() + head.num_frozen:9,d}  Ultralytics {ultralytics:9,d}"
          f"   (class-branch width c3 = {head.c3})")
    assert head.num_parameters() + head.num_frozen == ultralytics
for s in Detect.strides:
    print(f"stride {s:2d}: class bias log(5/2/(640/{s})^2) = {math.log(5 / 2 / (640 / s) ** 2):.4f}"
          f"  -> initial score {1 / (1 + 640 ** 2 / s ** 2 / 2.5):.2e}")

# %% [markdown]
# ## The anchor grid
#
# Anchors are cell centres (x + 0.5, y + 0.5) in grid units, levels concatenated P3, P4, P5,
# each row-major (y outer, x inner): the same order as Ultralytics' output, so index a in our
# output is index a in theirs. Multiplying by the stride gives pixels.

# %%
import numpy as np

from yolo_lib.geometry import make_anchors

size = 320
anchors, stride = make_anchors((size, size), Detect.strides)  # (A, 2) grid units, (A, 1) pixels
stride = stride[:, 0]
print("anchors:", anchors.shape, " first three:", anchors[:3].tolist(), " strides:", np.unique(stride))
fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, s in zip(axes, Detect.strides):
    sel = stride == s
    ax.scatter(anchors[sel, 0] * s, anchors[sel, 1] * s, s=3 if s == 8 else 8)
    ax.set_xlim(0, size); ax.set_ylim(size, 0); ax.set_aspect("equal")
    ax.set_title(f"stride {s}: {sel.sum()} anchors")
plt.show()

# %% [markdown]
# ## Exercise 6 · DFL decoding
#
# Write `dfl_decode(box_logits, anchors, strides)` in numpy, from the equations above:
# `box_logits` (B, 64, A) with channel = side·16 + bin (sides l, t, r, b), `anchors` (A, 2) the
# (x, y) cell centres in grid units, `strides` (A,) in pixels. Return (B, 4, A): cx, cy, w, h in
# pixels. Subtract the maximum before `np.exp` (a softmax of logits near 80 overflows float32).
# The check compares with `yolo_lib.nn.dfl` on three small levels (tolerance 1e-3 px).


# %%
def dfl_decode(box_logits, anchors, strides):
    """YOUR CODE: boxes (B, 4, A) = cx, cy, w, h in pixels."""
    raise NotImplementedError("exercise 6: softmax over 16 bins, expectation, distances to box")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_dfl_decode(box_logits, anchors, strides):
    """Solution of exercise 6."""
    import numpy as np

    b, _, a = box_logits.shape
    z = box_logits.reshape(b, 4, 16, a)
    p = np.exp(z - z.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    dist = (p * np.arange(16).reshape(1, 1, 16, 1)).sum(axis=2)  # (B, 4, A): l, t, r, b
    x1y1 = anchors.T[None] - dist[:, :2]
    x2y2 = anchors.T[None] + dist[:, 2:]
    return np.concatenate([(x1y1 + x2y2) / 2, x2y2 - x1y1], axis=1) * strides


# %%
from yolo_lib.notebook.exercises import check_dfl_decode, run_exercise

run_exercise(check_dfl_decode, dfl_decode, solution_dfl_decode);

# %% [markdown]
# ## The head alone against Ultralytics, then decoding
#
# We feed the reference's P3/P4/P5 features (outputs of layers 16, 19, 22; the reference's own
# weights, those Ultralytics ran) to our Detect head and compare the six raw outputs, then
# decode them into the inference output (B, 4+nc, A): cx, cy, w, h in pixels and sigmoid
# scores. Tolerances: raw outputs max |diff| / max |ref| <= 1e-4 (relative); boxes max |diff|
# <= 2e-3 px (absolute, in pixels: boxes are at most the image size, 320 px in the shared
# fixture and 128 px in the compact reference, so that is 1e-5 of their size or less) and scores
# max |diff| <= 1e-5 (absolute).

# %%

from yolo_lib import weights
from yolo_lib.compilation.functions import block_function
from yolo_lib.weights import reference

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
if ref is not None:
    model = weights.model_from_state_dict(ref.state_dict())
    feats = [ref[f"eval/layer{i}"] for i in (16, 19, 22)]

    def head_and_decoded(head, xs, ctx):
        box, cls = head(xs, ctx)
        return [*box, *cls, head.decode(box, cls)]

    outs = block_function(model.detect, [f.shape for f in feats], outputs=head_and_decoded)(*feats)
    names = [f"box_raw_P{i}" for i in (3, 4, 5)] + [f"cls_raw_P{i}" for i in (3, 4, 5)]
    for name, got in zip(names, outs[:6]):
        want = ref[f"eval/{name}"]
        err = float(np.abs(got - want).max() / np.abs(want).max())
        print(f"{name:11s} {str(got.shape):18s} rel. max diff {err:.2e}")
        assert err <= 1e-4
    decoded, want = outs[6], ref["eval/inference_out"]
    box_err, score_err = np.abs(decoded[:, :4] - want[:, :4]).max(), np.abs(decoded[:, 4:] - want[:, 4:]).max()
    print(f"inference_out {decoded.shape}: boxes max |diff| {box_err:.2e} px (tolerance 2e-3 px), "
          f"scores max |diff| {score_err:.2e} (tolerance 1e-5)")
    assert box_err <= 2e-3 and score_err <= 1e-5

# %% [markdown]
# ## DFL distributions of one anchor
#
# For the anchor with the highest class score: the four softmax distributions over the 16
# bins, their expectations (the red lines), which are the distances to the box sides, and the
# box they give. `pretrained.choose_weights` picks the weights and prints which: with the
# pretrained `yolo11n.pt` downloaded, the model runs on the photograph (one more compilation);
# without it, we reuse the reference's outputs from above, i.e. untrained weights on the
# reference's first image. Trained models give peaked distributions; random weights give
# broad ones.

# %%
from matplotlib.patches import Rectangle

from yolo_lib.weights import pretrained
from yolo_lib.compilation.functions import eval_function
from yolo_lib.data.sample_photo import sample_photo

chosen = pretrained.choose_weights(ref)  # the downloaded yolo11n.pt, else the reference's random weights
if chosen.trained:
    pic_size = 320
    photo, photo_batch, _ = sample_photo(pic_size)
    out = eval_function(chosen.model(), 1, pic_size, pic_size, outputs="all")(photo_batch)
    box_levels, pred, picture = [out[f"box_raw_P{i}"] for i in (3, 4, 5)], out["inference_out"], "the photograph"
else:  # the reference's outputs computed above: no new compilation
    pic_size, photo = ref["input/img"].shape[-1], ref["input/img"][0].transpose(1, 2, 0)
    box_levels, pred, picture = outs[:3], decoded, "reference image 0"
box_flat = np.concatenate([o[:1].reshape(1, 64, -1) for o in box_levels], axis=2)  # (1, 64, A)
pic_anchors, pic_stride = make_anchors((pic_size, pic_size), Detect.strides)
a = int(pred[0, 4:].max(axis=0).argmax())
logits = box_flat[0, :, a].reshape(4, 16)
probs = np.exp(logits - logits.max(axis=1, keepdims=True))
probs /= probs.sum(axis=1, keepdims=True)
fig, axes = plt.subplots(1, 5, figsize=(17, 3.4))
for ax, side, p in zip(axes, ("left", "top", "right", "bottom"), probs):
    ax.bar(np.arange(16), p)
    ax.axvline((p * np.arange(16)).sum(), color="r")
    ax.set_title(f"{side}: {(p * np.arange(16)).sum():.2f} cells")
cx, cy, w, h = pred[0, :4, a]
axes[4].imshow(photo)
axes[4].add_patch(Rectangle((cx - w / 2, cy - h / 2), w, h, fill=False, ec="r", lw=2))
axes[4].plot(*(pic_anchors[a] * pic_stride[a]), "c+", ms=12, mew=2)
axes[4].set_xlim(0, pic_size), axes[4].set_ylim(pic_size, 0), axes[4].axis("off")
axes[4].set_title(f"{picture} ({pic_size} px), anchor +", fontsize=9)
plt.suptitle(f"weights: {chosen.label}; anchor {a} at {pic_anchors[a].tolist()} (stride {int(pic_stride[a, 0])}), "
             f"score {pred[0, 4:, a].max():.3f}: box cx, cy, w, h = {', '.join(f'{v:.1f}' for v in pred[0, :4, a])} px")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Takeaway
#
# * Every cell of P3, P4 and P5 is an anchor; a box is four distances from its centre, each the
#   expectation of a 16-bin softmax, in grid cells, times the level's stride.
# * The class bias starts every score near the prior of a few objects per image, so the
#   untrained head is not swamped by false positives; decoded outputs match Ultralytics'.
#
# ## What to try next
#
# * Compute the largest box each level can draw at 640 px, from `reg_max` = 16.
# * Change the prior's 5 objects per image to 50 in the bias formula and see the initial scores.
# * With `yolo11n.pt` downloaded, rerun the last cell: how peaked are the distributions?
