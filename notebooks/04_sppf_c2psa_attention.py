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
# # 04 · SPPF, C2PSA and attention: the end of the backbone
#
# At stride 32 the backbone widens its view twice. **SPPF** chains three 5x5 max-pools
# (stride 1, padded with -inf, not zeros) so one 1x1 Conv sees 5x5, 9x9 and 13x13
# neighbourhoods at once. **C2PSA** then lets every position attend to every other one: a
# 2-head self-attention over the H*W positions plus a depthwise 3x3 "positional" conv, followed
# by a small feed-forward net, both with residuals.
#
# **Goal:** understand how SPPF widens the receptive field and why it pads with -inf, how
# C2PSA's attention mixes all positions, see both match Ultralytics, and write the attention
# block yourself (exercise 5).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %% [markdown]
# ## The code and the pictures
#
# The source of SPPF and of the attention path, from `yolo_lib`, then both blocks as diagrams.
#
# **Attention, in equations.** Per head h, over the N = H·W positions of the stride-32 map
# (N = 10·10 = 100 for a 320x320 image, 4·4 = 16 at 128x128),
# the 1x1 `qkv` convolution gives queries and keys $Q_h, K_h \in \mathbb{R}^{d_k \times N}$
# ($d_k$ = 32) and values $V_h \in \mathbb{R}^{d_v \times N}$ ($d_v$ = 64). Then
# $$A_h = \operatorname{softmax}_{\text{row}}\!\Big(\frac{Q_h^\top K_h}{\sqrt{d_k}}\Big) \in \mathbb{R}^{N\times N},
#   \qquad O_h = V_h A_h^\top \in \mathbb{R}^{d_v \times N},$$
# row $i$ of $A_h$ being how much position $i$ takes from every position (it sums to one). The
# heads are stacked back into 128 channels, a depthwise 3x3 convolution of the values (`pe`)
# adds a sense of *where* (attention alone is blind to position), and `proj` mixes:
# $$\text{Attention}(x) = \operatorname{proj}\big(O + \operatorname{pe}(V)\big), \qquad
#   \text{PSABlock}(x) = x' + \operatorname{FFN}(x'),\quad x' = x + \text{Attention}(x).$$

# %%
import matplotlib.pyplot as plt

from yolo_lib.notebook.diagrams import c2psa_diagram, sppf_diagram
from yolo_lib.nn import C2PSA, SPPF, Attention, PSABlock
from yolo_lib.notebook.show import show_source

show_source(SPPF.forward, Attention.scores, Attention.forward, PSABlock.forward, C2PSA.forward)
sppf_diagram()
c2psa_diagram()
plt.show()

# %% [markdown]
# ## Parameters beside Ultralytics
#
# For YOLO11n the attention works on c = 128 channels: 2 heads of 64, keys and queries of 32
# per head (so `qkv` maps 128 → 256 = per head 32 q + 32 k + 64 v), scale 32^-0.5.

# %%
ULTRALYTICS = {"SPPF 256->256 k5 (layer 9)": 164608, "C2PSA 256->256 (layer 10)": 249728}
blocks = {"SPPF 256->256 k5 (layer 9)": SPPF(256, 256, 5), "C2PSA 256->256 (layer 10)": C2PSA(256, 256, 1)}
print(f"{'block':28s} {'yolo_lib':>9s} {'Ultralytics':>11s}")
for name, block in blocks.items():
    print(f"{name:28s} {block.num_parameters():9,d} {ULTRALYTICS[name]:11,d}")
    assert block.num_parameters() == ULTRALYTICS[name]
attn = Attention(128, num_heads=2, attn_ratio=0.5)
print(f"\nAttention(128, heads=2): head_dim={attn.head_dim} key_dim={attn.key_dim} scale={attn.scale:.4f}")
for name, var in attn.named_parameters():
    print(f"  {name:16s} {var.type.shape}")

# %% [markdown]
# ## Why -inf padding matters, and what three chained pools see
#
# One white pixel in a black image, pooled three times with a 5x5 window: the chained pools
# see windows of 5, 9 and 13 pixels. Padding with zeros would be wrong for negative
# activations (SiLU outputs go down to -0.28): a zero would win the max at the border.

# %%
import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib import ops
from yolo_lib.compilation.functions import MODE

x = pt.tensor4("x", dtype="float32", shape=(1, 1, 21, 21))
p1 = ops.max_pool2d(x, 5, stride=1, padding=2)
p2 = ops.max_pool2d(p1, 5, stride=1, padding=2)
p3 = ops.max_pool2d(p2, 5, stride=1, padding=2)
pools = pytensor.function([x], [p1, p2, p3], mode=MODE)
impulse = np.zeros((1, 1, 21, 21), np.float32)
impulse[0, 0, 10, 10] = 1
fig, axes = plt.subplots(1, 4, figsize=(12, 3))
for ax, img, title in zip(axes, [impulse, *pools(impulse)], ["input", "pool 1: 5x5", "pool 2: 9x9", "pool 3: 13x13"]):
    ax.imshow(np.asarray(img)[0, 0], cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()
neg = -np.ones((1, 1, 21, 21), np.float32)
corner = float(np.asarray(pools(neg)[0])[0, 0, 0, 0])
print("max-pool of an all -1 image, corner value:", corner, "(zero padding would give 0)")
assert corner == -1.0

# %% [markdown]
# ## Exercise 5 · the attention block
#
# Write `attention_forward(attn, x, ctx)`, the symbolic forward pass of an `Attention` module,
# from the equations above. You get `attn.qkv`, `attn.pe`, `attn.proj` (call them as
# `child(x, ctx)`), `attn.num_heads`, `attn.key_dim`, `attn.head_dim`, `attn.dim` and
# `attn.scale`. View qkv's output as (B, heads, 2·key_dim + head_dim, N) and split each head
# into q | k | v in that order. `pt.matmul` multiplies the last two axes, `.transpose(0, 1, 3, 2)`
# swaps them, `softmax(.., axis=-1)` comes from `pytensor.tensor.special`, and
# `yolo_lib.geometry.dims(x)` gives (B, C, H, W) as numbers. The check uses H != W, so a
# swapped reshape shows up.


# %%
def attention_forward(attn, x, ctx):
    """YOUR CODE: Attention output (B, dim, H, W) for symbolic x (B, dim, H, W)."""
    raise NotImplementedError("exercise 5: q, k, v; softmax(q^T k * scale); v attn^T + pe(v); proj")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_attention_forward(attn, x, ctx):
    """Solution of exercise 5."""
    import pytensor.tensor as pt
    from pytensor.tensor.special import softmax

    from yolo_lib.geometry import dims

    b, c, h, w = dims(x)
    qkv = attn.qkv(x, ctx).reshape((b, attn.num_heads, 2 * attn.key_dim + attn.head_dim, h * w))
    q, k, v = qkv[:, :, : attn.key_dim], qkv[:, :, attn.key_dim : 2 * attn.key_dim], qkv[:, :, 2 * attn.key_dim :]
    weights_ = softmax(pt.matmul(q.transpose(0, 1, 3, 2), k) * pt.constant(attn.scale, dtype="float32"), axis=-1)
    o = pt.matmul(v, weights_.transpose(0, 1, 3, 2)).reshape((b, c, h, w))
    return attn.proj(o + attn.pe(v.reshape((b, c, h, w)), ctx), ctx)


# %%
from yolo_lib.notebook.exercises import check_attention, run_exercise

run_exercise(check_attention, attention_forward, solution_attention_forward);

# %% [markdown]
# ## SPPF and C2PSA alone against Ultralytics
#
# As in notebook 03: load the reference's weights (the ones Ultralytics ran, never the pretrained
# ones), feed each block the reference's output of the layer before, compare with the
# reference's output of this layer, in eval and train mode.

# %%
from yolo_lib import weights
from yolo_lib.compilation.functions import block_function
from yolo_lib.weights import reference

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
if ref is not None:
    model = weights.model_from_state_dict(ref.state_dict())
    for i in (9, 10):
        block = model.model[i]
        for mode in ("eval", "train"):
            x_in = ref[f"{mode}/layer{i - 1:02d}"]
            y = block_function(block, [x_in.shape], train=(mode == "train"))(x_in)
            want = ref[f"{mode}/layer{i:02d}"]
            err = float(np.abs(y - want).max() / np.abs(want).max())
            print(f"layer {i:2d} {type(block).__name__:6s} {mode:5s} out {y.shape} rel. max diff {err:.2e}")
            assert err <= 1e-4

# %% [markdown]
# ## Looking inside the attention
#
# C2PSA's attention runs on the grid of stride-32 cells: (H/32)x(W/32) positions, so each head's
# attention matrix is N x N with N = H·W/32² (row = query position; each row sums to one over
# the keys): 100x100 for the shared fixture's 320x320 images, 16x16 for the compact reference's
# 128x128 ones (the cell prints which). Below: both heads' matrices for the first reference
# image, and for the centre cell the attention it pays to every cell, drawn on the grid.

# %%
if ref is not None:
    c2psa = model.model[10]
    psa_attention = c2psa.m[0].attn

    def attention_weights(block, x, ctx):
        b = block.cv1(x, ctx)[:, block.c:]  # the half that goes through the PSABlock
        weights_, _ = psa_attention.scores(b, ctx)
        return [weights_]

    x_in = ref["eval/layer09"]
    print(f"reference images {ref['input/img'].shape[-2]}x{ref['input/img'].shape[-1]} px -> stride-32 grid "
          f"{x_in.shape[2]}x{x_in.shape[3]} = {x_in.shape[2] * x_in.shape[3]} positions")
    attn_map = block_function(c2psa, [x_in.shape], outputs=attention_weights)(x_in)
    print("attention weights", attn_map.shape, "rows sum to", attn_map[0, 0].sum(axis=-1)[:3])
    np.testing.assert_allclose(attn_map.sum(axis=-1), 1.0, rtol=1e-5)
    h, w = x_in.shape[2:]
    centre = (h // 2) * w + w // 2
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for head in range(2):
        axes[head].imshow(attn_map[0, head], cmap="magma")
        axes[head].set_title(f"head {head}: {h * w}x{h * w} weights")
        axes[head + 2].imshow(attn_map[0, head, centre].reshape(h, w), cmap="magma")
        axes[head + 2].set_title(f"head {head}: centre cell attends to")
    plt.show()

# %% [markdown]
# ## Attention on a real photograph
#
# The same attention, now for a real photo (matplotlib's sample portrait, letterboxed to
# 320x320): we compile the backbone up to C2PSA and read the attention weights on its 10x10
# grid of stride-32 cells. `pretrained.choose_weights` picks the weights and prints which: the
# pretrained `yolo11n.pt` when it has been downloaded, else the reference's untrained ones.
# The titles give each map's range next to the uniform 1/100 (the colours are stretched to it):
#
# * **untrained**, the attention is almost **uniform**, every weight within a few percent of
#   1/100. Untrained queries and keys are small and nearly unrelated, so $Q^\top K/\sqrt{d_k}$
#   is close to zero everywhere and the softmax is close to flat. What the picture shows is the
#   mechanics: each cell spreads one unit of attention over all 100 cells, the two heads
#   differently, with a faint preference that follows the photo's large regions;
# * **pretrained**, queries and keys were trained to be useful, so expect the ranges to move away
#   from 1/100: a cell's attention is no longer spread evenly but weighted towards some cells.

# %%
from yolo_lib.weights import pretrained
from yolo_lib.compilation.functions import images_variable
from yolo_lib.data.sample_photo import CREDIT, sample_photo
from yolo_lib.nn import ForwardContext

photo, photo_batch, _ = sample_photo(320)
chosen = pretrained.choose_weights(ref)  # the downloaded yolo11n.pt, else the reference's random weights
pic_model = chosen.model()
c2psa = pic_model.model[10]
images = images_variable(1, 320, 320)
ctx = ForwardContext()
layer9 = pic_model.forward(images).layers[9]
photo_attention, _ = c2psa.m[0].attn.scores(c2psa.cv1(layer9, ctx)[:, c2psa.c :], ctx)
att = np.asarray(pytensor.function([images], photo_attention, mode=MODE)(photo_batch))[0]  # (2, 100, 100)

cells = {"face": (3, 5), "flag": (2, 1), "uniform": (8, 5)}  # (row, col) on the 10x10 grid
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for head in range(2):
    for ax, (name, (r, c)) in zip(axes[head], cells.items()):
        ax.imshow(photo)
        heat = att[head, r * 10 + c].reshape(10, 10)
        ax.imshow(np.kron(heat, np.ones((32, 32))), cmap="magma", alpha=0.6)
        ax.add_patch(plt.Rectangle((c * 32, r * 32), 32, 32, fill=False, ec="cyan", lw=2))
        ax.set_title(f"head {head}: cell '{name}' (cyan) attends to\n"
                     f"weights {heat.min():.4f} .. {heat.max():.4f} (uniform: 0.0100)", fontsize=9)
        ax.axis("off")
fig.suptitle(f"{CREDIT}; C2PSA attention, weights: {chosen.label}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Takeaway
#
# * Three chained 5x5 max-pools see 5x5, 9x9 and 13x13 neighbourhoods: SPPF gets a wide view
#   for the price of one small pool, and -inf padding keeps the border honest.
# * C2PSA's attention lets each of the stride-32 cells weigh all the others, two heads at once,
#   plus a depthwise positional conv; it matches Ultralytics in both BN modes.
#
# ## What to try next
#
# * Build `Attention(128, num_heads=4)` and print its head and key sizes.
# * Pool the impulse image with k=3 three times: how wide is the result?
# * With `yolo11n.pt` downloaded, rerun the last cell: how far from 1/100 do the weights move?
