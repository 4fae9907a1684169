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
# # 02 · Custom Ops: teaching PyTensor to convolve
#
# PyTensor builds a symbolic graph of *Ops* (add, exp, sum, dot, ...), rewrites it, and hands it
# to a backend (Numba by default, or JAX, which compiles it with XLA for CPU or GPU). A YOLO
# network needs four Ops that PyTensor 3 does not have: a multi-channel 2-D convolution with
# stride, padding, dilation and groups; max pooling; nearest-neighbour upsampling; and batch
# normalisation (notebook 01). The old convolution Ops were removed upstream, and
# `pytensor.tensor.signal.convolve2d` is SciPy-style: one 2-D plane, no channels, no stride and
# no JAX implementation. So `yolo_lib.ops` brings its own. This notebook shows how such an Op
# is defined, differentiated and lowered to JAX, with `Conv2d` as the example.
#
# **Goal:** know the parts of a PyTensor Op (`perform`, `infer_shape`, a gradient made of
# further Ops, a JAX lowering) well enough to write one, and the padding details that decide
# whether a convolution matches PyTorch's (exercises 2 and 3: the output shape and the JAX
# lowering).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%
import warnings

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytensor
import pytensor.tensor as pt

from yolo_lib.ops import Conv2d, conv2d, max_pool2d, upsample_nearest
from yolo_lib.ops import conv as conv_module
from yolo_lib.ops import conv_lowering
from yolo_lib.notebook.show import show_source as show  # the real code from yolo_lib, on the page

# PyTensor's default backend (Numba) runs an Op without a Numba implementation, like ours,
# through its Python `perform` ("object mode") and warns each time it does. This notebook uses
# that on purpose (below, and in `.eval()`), so the warning is silenced here, for that one message.
warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)


# %% [markdown]
# ## An Op in four methods
#
# **`make_node`** runs when the graph is built. It turns the inputs into tensor variables,
# checks them and creates the output variable with its dtype and *static shape*: when the input
# sizes are known, so are the output sizes, and everything downstream (and JAX tracing) benefits.
# This is also where bad input is refused, with a message naming the shapes, long before any
# number is computed.

# %%
show(Conv2d.make_node)
show(Conv2d.check_shapes)

# %% [markdown]
# **`perform`** computes the output with numpy. PyTensor's own backends call it, and so do the
# float64 gradient checks. It must be vectorised: a sliding-window *view* of the padded input
# (no copy) and one `einsum` over (group, channel, kernel row, kernel column).

# %%
show(Conv2d.perform)

# %% [markdown]
# **`infer_shape`** answers "what is the output shape?" symbolically, so that a graph asking
# only for `y.shape` never runs the convolution.
#
# **`pullback`** (called `L_op`/`grad` in older PyTensor) builds the gradient graph: given the
# cotangent `gy` of the output, it returns the cotangents of the inputs. For a convolution these
# are two more convolutions, and we make each its own Op (`Conv2dGradInput`,
# `Conv2dGradWeight`) so that they too have a numpy `perform` and a JAX lowering, and so that
# the compiled training step holds exactly three convolutions per layer.

# %%
show(Conv2d.pullback)

# %% [markdown]
# ### Exercise 2 · the output shape of a convolution
#
# `infer_shape` and `make_node` both rest on one formula per spatial axis. Write
# `conv_output_shape(x_shape, w_shape, stride, padding, dilation, groups)` returning the output
# shape `(N, O, Ho, Wo)` of `conv2d`. `stride` is an int or a pair (sh, sw); `padding` is an int
# (the same on every side) or `((top, bottom), (left, right))`; a dilated kernel of size k
# covers `dilation * (k - 1) + 1` pixels. The check compares with the static shape `Conv2d`
# infers on five cases, and prints the first case where you differ.


# %%
def conv_output_shape(x_shape, w_shape, stride, padding, dilation, groups):
    """YOUR CODE: (N, O, Ho, Wo) for x (N, C, H, W) and w (O, C // groups, kh, kw)."""
    raise NotImplementedError("exercise 2: the sliding-window length formula")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_conv_output_shape(x_shape, w_shape, stride, padding, dilation, groups):
    """Solution of exercise 2."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    pads = ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding
    out = []
    for n, k, s, (before, after) in zip(x_shape[2:], w_shape[2:], (sh, sw), pads):
        span = dilation * (k - 1) + 1
        out.append((n + before + after - span) // s + 1)
    return (x_shape[0], w_shape[0], *out)


# %%
from yolo_lib.notebook.exercises import check_conv_output_shape, check_jax_conv, run_exercise

run_exercise(check_conv_output_shape, conv_output_shape, solution_conv_output_shape);

# %% [markdown]
# **Lowering to JAX.** PyTensor's JAX backend asks `jax_funcify` for a JAX function per Op; we
# register one for each Op type. The registration hands the Op and its node to
# `yolo_lib.ops.conv_lowering`, which picks a lowering per backend and static shape (on the CPU,
# 1x1 convolutions become matrix products and depthwise ones per-tap products, because XLA's CPU
# convolutions are slow there; `benchmarks/bench_conv_layers.py` measured each choice). The
# plain lowering is a closure over `jax.lax.conv_general_dilated`; for the input gradient,
# `jax.linear_transpose` derives the transposed convolution from the forward one without ever
# computing the forward pass.

# %%
show(conv_module._jax_conv2d)
show(conv_lowering._lax_forward)
show(conv_lowering._transpose_of)

# %% [markdown]
# ### Exercise 3 · the JAX lowering
#
# The body of a lowering is one call to `jax.lax.conv_general_dilated`. Write
# `jax_conv(x, w, stride, padding, groups)` for numpy NCHW input `x`, OIHW weights `w`, an int
# stride and an int padding applied to every side (as PyTorch does: no `"SAME"`!). Read
# `_lax_forward` above for the argument names if you are stuck. The check compares your output with
# the `Conv2d` Op compiled to JAX, including a grouped case.


# %%
def jax_conv(x, w, stride, padding, groups):
    """YOUR CODE: conv2d of x (N, C, H, W) with w (O, C // groups, k, k) using jax.lax."""
    raise NotImplementedError("exercise 3: one call to jax.lax.conv_general_dilated")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_jax_conv(x, w, stride, padding, groups):
    """Solution of exercise 3."""
    import jax

    return jax.lax.conv_general_dilated(
        x, w, window_strides=(stride, stride), padding=((padding, padding), (padding, padding)),
        feature_group_count=groups, dimension_numbers=("NCHW", "OIHW", "NCHW"))


# %%
run_exercise(check_jax_conv, jax_conv, solution_jax_conv);

# %% [markdown]
# ## Using it
#
# A stride-2 3x3 layer like YOLO11n's downsampling convolutions. The batch and image size are
# left unknown (`None`), the weight shape is static: the output type already knows its channel
# count. The gradient graph contains our two gradient Ops.

# %%
x = pt.tensor("x", dtype="float32", shape=(None, 8, None, None))
w = pt.tensor("w", dtype="float32", shape=(16, 8, 3, 3))
y = conv2d(x, w, stride=2, padding=1)
print("output type:", y.type)
print(
    "static shape with a known input:",
    conv2d(pt.tensor(dtype="float32", shape=(4, 8, 64, 64)), w, 2, 1).type.shape,
)

c = pt.tensor("c", dtype="float32", shape=(None, 16, None, None))
loss = (y * c).sum()
gx, gw = pytensor.grad(loss, [x, w])
print("gradient Ops:", type(gx.owner.op).__name__, type(gw.owner.op).__name__)

# %% [markdown]
# Compiled with `mode="JAX"` and compared with the same computation written directly in
# `jax.lax` and differentiated by `jax.grad`; then the same graph on PyTensor's default backend
# (Numba, which runs our numpy `perform` in object mode).

# %%
size = 64 if PROFILE.name == "full" else 32
rng = np.random.default_rng(0)
x_val = rng.normal(size=(2, 8, size, size)).astype("float32")
w_val = (rng.normal(size=(16, 8, 3, 3)) / 8).astype("float32")
c_val = rng.normal(size=(2, 16, size // 2, size // 2)).astype("float32")

f_jax = pytensor.function([x, w, c], [y, gx, gw], mode="JAX")
f_default = pytensor.function([x, w, c], [y, gx, gw])


def lax_conv(a, b):
    return jax.lax.conv_general_dilated(
        a, b, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


ref = [lax_conv(x_val, w_val), *jax.grad(lambda a, b: (lax_conv(a, b) * c_val).sum(), (0, 1))(x_val, w_val)]
for backend, f in (("JAX", f_jax), ("default", f_default)):
    outs = f(x_val, w_val, c_val)
    diffs = [
        float(np.abs(np.asarray(o) - np.asarray(r)).max() / np.abs(np.asarray(r)).max())
        for o, r in zip(outs, ref)
    ]
    print(
        f"{backend:8s} max |diff| / max |ref| vs jax.lax: y {diffs[0]:.1e}, dx {diffs[1]:.1e}, dw {diffs[2]:.1e}"
    )
    assert max(diffs) < 1e-5

# %% [markdown]
# ## What PyTensor does with a graph: before and after rewriting
#
# `pytensor.function` does not run the graph you wrote. It first *rewrites* it: merges duplicate
# subexpressions, folds constants, replaces slow patterns by fast ones, and only then hands the
# result to the backend. `pytensor.dprint` shows both. A small example: SiLU followed by a
# stride-2 convolution, and the gradient of its sum with respect to the weights. As written,
# the gradient graph still contains the forward convolution and its sum (`Second` only reads
# their shapes to build a tensor of ones); after rewriting, both are gone.

# %%
xg = pt.tensor("x", dtype="float32", shape=(1, 3, 8, 8))
wg = pt.tensor("w", dtype="float32", shape=(4, 3, 3, 3))
silu_x = xg * pt.sigmoid(xg)
out_g = conv2d(silu_x, wg, stride=2, padding=1)
grad_w = pytensor.grad(out_g.sum(), wg)
print("=== the graph as written (gradient w.r.t. w) ===")
pytensor.dprint(grad_w)
small_fn = pytensor.function([xg, wg], grad_w, mode="JAX")
print("\n=== after PyTensor's rewrites, as compiled for JAX ===")
pytensor.dprint(small_fn);

# %% [markdown]
# The `Conv2dGradWeight` node survives untouched (it is ours: PyTensor cannot see inside it);
# the multiply and the sigmoid of SiLU are fused into one `Composite` node; the tensor of ones
# has become a constant, so the forward convolution and the sum, needed only for their shapes,
# are never computed.
#
# %% [markdown]
# What did XLA get? We lower the compiled graph once more and count the convolutions in its
# program text: one forward, one for the input gradient, one for the weight gradient.

# %%
from pytensor.link.jax.dispatch import jax_funcify

hlo = jax.jit(jax_funcify(f_jax.maker.fgraph)).lower(x_val, w_val, c_val).as_text()
print("convolutions in the lowered program:", hlo.count("stablehlo.convolution"))
assert hlo.count("stablehlo.convolution") == 3

# %% [markdown]
# ## Padding: say exactly what you mean
#
# PyTorch (and Ultralytics) pads a 3x3 convolution by 1 pixel on *every* side, whatever the
# stride. XLA's convenient `"SAME"` padding instead chooses the padding that makes the output
# `ceil(input / stride)` long and puts any odd pixel at the end. For stride 1 the two agree; for a
# stride-2 layer on an even-sized input, `"SAME"` pads (0 before, 1 after) instead of (1, 1): every
# window moves one pixel to the right, and the results are simply different. That is why
# `yolo_lib.ops` only accepts explicit padding, per side when needed:
# `padding=((top, bottom), (left, right))`.

# %%
n, k, s = 8, 3, 2
fig, axes = plt.subplots(2, 1, figsize=(9, 3.6))
for ax, (title, (before, after)) in zip(
    axes, [("PyTorch / yolo_lib: padding (1, 1)", (1, 1)), ('XLA "SAME": padding (0, 1)', (0, 1))]
):
    cells = range(-before, n + after)
    for i in cells:
        pad = i < 0 or i >= n
        ax.add_patch(
            plt.Rectangle(
                (i, 0), 1, 1, fc="0.85" if pad else "white", ec="black", hatch="//" if pad else None
            )
        )
        ax.text(i + 0.5, 0.5, "0" if pad else f"x{i}", ha="center", va="center", fontsize=9)
    n_out = (n + before + after - k) // s + 1
    for j in range(n_out):
        start_px = -before + j * s
        ax.add_patch(plt.Rectangle((start_px + 0.05, 1.2 + 0.35 * j), k - 0.1, 0.28, fc=f"C{j}", alpha=0.7))
        ax.text(start_px + k + 0.1, 1.34 + 0.35 * j, f"y{j}", va="center", fontsize=8)
    ax.set(xlim=(-1.5, n + 1.5), ylim=(-0.2, 1.3 + 0.35 * n_out), title=title)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %%
xs = rng.normal(size=(1, 1, 8, 8)).astype("float32")
ws = rng.normal(size=(1, 1, 3, 3)).astype("float32")
same = jax.lax.conv_general_dilated(xs, ws, (2, 2), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
ours_symmetric = conv2d(xs, ws, stride=2, padding=1).eval()
ours_as_same = conv2d(xs, ws, stride=2, padding=((0, 1), (0, 1))).eval()
print('stride 2, padding 1 vs XLA "SAME":        max |diff| =', float(np.abs(ours_symmetric - same).max()))
print('stride 2, padding ((0,1),(0,1)) vs "SAME": max |diff| =', float(np.abs(ours_as_same - same).max()))
np.testing.assert_allclose(ours_as_same, same, atol=1e-5)  # "SAME" is padding ((0, 1), (0, 1)) here
assert np.abs(ours_symmetric - same).max() > 1e-2  # and not PyTorch's symmetric padding 1

# %% [markdown]
# The same question on real data: YOLO11n's first layer is a 3x3 stride-2 convolution of the
# 320x320 image, then BatchNorm and SiLU. With the weights and outputs recorded from the real
# Ultralytics model (the shared fixture), our Ops reproduce the layer with symmetric padding,
# and miss it badly with `"SAME"`-style padding.

# %%
from yolo_lib.weights import reference
from yolo_lib.ops import batch_norm_eval, silu

ref = reference.load(verbose=True)  # the shared fixture when present, else the compact one shipped here
img, want = ref["input/img"], ref["eval/layer00"]
sd = {
    k: ref[f"state_dict/model.0.{k}"]
    for k in ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")
}
images = pt.tensor("images", dtype="float32", shape=(None, *img.shape[1:]))
bn_args = [pt.constant(sd[k]) for k in ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")]
for padding in (1, ((0, 1), (0, 1))):
    layer0 = silu(
        batch_norm_eval(
            conv2d(images, pt.constant(sd["conv.weight"]), stride=2, padding=padding), *bn_args
        )
    )
    got = np.asarray(pytensor.function([images], layer0, mode="JAX")(img))
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    print(f"layer 0 with padding {padding}: max |diff| / max |ref| = {rel:.1e}")
    if padding == 1:
        assert rel < 1e-4
    else:
        assert rel > 1e-2, "the asymmetric padding should not match Ultralytics"

# %% [markdown]
# ## Refusing bad input early
#
# Mistakes in a network definition should fail when the graph is built, with the shapes in the
# message, not as a broadcasting error deep inside XLA at the first training step.

# %%
bad_cases = {
    "x is 3-D": lambda: conv2d(pt.tensor(dtype="float32", shape=(3, 32, 32)), w),
    "channel mismatch": lambda: conv2d(pt.tensor(dtype="float32", shape=(1, 4, 32, 32)), w),
    "kernel larger than padded input": lambda: conv2d(pt.tensor(dtype="float32", shape=(1, 8, 1, 1)), w),
    "non-integer upsample scale": lambda: upsample_nearest(x, 1.5),
}
for name, build in bad_cases.items():
    try:
        build()
    except ValueError as err:
        print(f"{name:32s} -> ValueError: {err}")

# %% [markdown]
# ## Max pooling and upsampling, briefly
#
# YOLO11n's SPPF block applies a 5x5 max pool (stride 1, padding 2) three times in a row. The
# padding must act as $-\infty$: with zeros, every border window of a negative feature map would
# report 0, a value that is not in the data. `MaxPool2d` pads with $-\infty$, lowers to
# `jax.lax.reduce_window`, and sends each output's gradient to the arg-max of its window.

# %%
neg = -1.0 - np.arange(16, dtype="float32").reshape(1, 1, 4, 4)
print("input (all negative):\n", neg[0, 0])
print("max_pool2d(k=3, stride=1, padding=1), -inf padding:\n", max_pool2d(neg, 3, 1, 1).eval()[0, 0])
zero_padded = np.pad(neg, ((0, 0), (0, 0), (1, 1), (1, 1)))
print("the same after zero padding (wrong):\n", max_pool2d(zero_padded, 3, 1, 0).eval()[0, 0])
assert max_pool2d(neg, 3, 1, 1).eval().max() < 0 and max_pool2d(zero_padded, 3, 1, 0).eval()[0, 0, 0, 0] == 0

# %% [markdown]
# The neck's `Upsample` doubles the resolution by copying each pixel into a 2x2 block; its
# gradient adds up the four gradients of each block.

# %%
small = np.arange(4, dtype="float32").reshape(1, 1, 2, 2)
xu = pt.tensor("xu", dtype="float32", shape=(1, 1, 2, 2))
up = upsample_nearest(xu, 2)
weights = np.arange(16, dtype="float32").reshape(1, 1, 4, 4)
up_val, grad_val = pytensor.function([xu], [up, pytensor.grad((up * weights).sum(), xu)], mode="JAX")(small)
print("upsampled:\n", np.asarray(up_val)[0, 0])
print("gradient of sum(upsampled * weights), weights = 0..15 row-major:\n", np.asarray(grad_val)[0, 0])
assert np.array_equal(
    np.asarray(grad_val)[0, 0], weights.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).sum(axis=(2, 3))
)

# %% [markdown]
# Every Op and option is checked in `tests/test_ops_*.py`: JAX against numpy `perform` against
# `jax.lax`, float64 finite differences (`verify_grad`), the number of convolutions XLA keeps,
# and a real Ultralytics SPPF block and Upsample layer. The model notebooks build YOLO11n from
# these pieces.

#
# ## Takeaway
#
# * An Op is `make_node` (types), `perform` (numpy), `infer_shape`, `grad` (built from further
#   Ops, so gradients of gradients work) and a JAX lowering registered with `jax_funcify`.
# * PyTorch pads symmetrically; XLA's "SAME" pads by the output size, unevenly at stride 2. A
#   one-pixel difference in padding is a wrong model, not a rounding error.
# * Max pooling pads with -inf: zeros would win over negative activations at the border.
#
# ## What to try next
#
# * `pytensor.gradient.verify_grad` on `conv2d` with `dilation=2` and `groups=2`.
# * Print the compiled HLO of a stride-2 gradient and count its convolutions again.
# * Notebook 03 builds YOLO11's Conv and C3k2 blocks from these Ops.
