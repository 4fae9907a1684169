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
# # 01 · BatchNorm by hand: the training-mode backward pass
#
# Every one of YOLO11n's 81 `Conv` blocks is *convolution → BatchNorm*, and 77 of them then apply
# SiLU (the four inside the attention block have no activation; notebook 03 counts them). PyTensor has no
# BatchNorm, so the workshop library brings its own (`yolo_lib.ops.batch_norm_train`), with a
# backward pass written out by hand instead of left to autodiff. In this notebook we derive that
# backward pass, implement it in a few lines of numpy, and check every gradient against
# PyTensor's autodiff and against finite differences. Then we look at what differs between
# training and inference, and at the running statistics that connect the two.
#
# **Goal:** derive training-mode BatchNorm's backward pass yourself, see every gradient agree
# with autodiff and finite differences, and know what eval mode does differently (exercise 1:
# the backward pass in stages).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %% [markdown]
# ## The forward pass
#
# BatchNorm normalises each channel over the batch and the spatial positions. For an input
# $x$ of shape (N, C, H, W), take one channel and call its $M = N \cdot H \cdot W$ values
# $x_i$. In training mode:
#
# $$\mu = \frac1M \sum_i x_i, \qquad \sigma^2 = \frac1M \sum_i (x_i - \mu)^2, \qquad
#   \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y_i = \gamma \hat x_i + \beta .$$
#
# Two details matter for parity with Ultralytics (PyTorch): the variance used to normalise is the
# *biased* one (divide by $M$), and $\epsilon = 10^{-3}$ (Ultralytics sets it on every
# BatchNorm; PyTorch's default is $10^{-5}$).

# %%
import numpy as np


def bn_forward(x, gamma, beta, eps=1e-3):
    """Training-mode BatchNorm of x (N, C, H, W); returns y and what the backward pass needs."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased: divides by M
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    y = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    return y, (xhat, inv_std, gamma)


# %% [markdown]
# ## The backward pass, step by step
#
# Let $g_i = \partial L / \partial y_i$ be the gradient arriving from the layer above. Walk the
# forward pass backwards, one line at a time.
#
# **β and γ** appear once per position, so their gradients are sums over the channel:
# $$\frac{\partial L}{\partial \beta} = \sum_i g_i, \qquad
#   \frac{\partial L}{\partial \gamma} = \sum_i g_i \hat x_i .$$
#
# **x̂**: $\;\partial L / \partial \hat x_i = \gamma g_i$.
#
# **σ²** enters every $\hat x_i$ through $(\sigma^2+\epsilon)^{-1/2}$:
# $$\frac{\partial L}{\partial \sigma^2} = \sum_i \gamma g_i (x_i - \mu) \cdot \left(-\tfrac12\right)(\sigma^2+\epsilon)^{-3/2}.$$
#
# **μ** enters every $\hat x_i$ directly and $\sigma^2$ through $(x_i - \mu)$; the second path
# carries $\frac{-2}{M}\sum_i (x_i-\mu) = 0$, so only the first survives:
# $$\frac{\partial L}{\partial \mu} = -\frac{1}{\sqrt{\sigma^2+\epsilon}} \sum_i \gamma g_i .$$
#
# **x** reaches the loss three ways: through $\hat x_i$ directly, through $\sigma^2$ and through $\mu$:
# $$\frac{\partial L}{\partial x_i} = \frac{\gamma g_i}{\sqrt{\sigma^2+\epsilon}}
#   + \frac{\partial L}{\partial \sigma^2}\,\frac{2 (x_i - \mu)}{M}
#   + \frac{\partial L}{\partial \mu}\,\frac1M .$$
#
# Write $s = (\sigma^2+\epsilon)^{-1/2}$, so that $x_i - \mu = \hat x_i / s$. Then the two sums
# become sums we already have for β and γ:
# $$\frac{\partial L}{\partial \sigma^2} = -\tfrac12 \gamma s^3 \sum_j g_j (x_j - \mu)
#   = -\tfrac12 \gamma s^2 \sum_j g_j \hat x_j, \qquad
#   \frac{\partial L}{\partial \mu} = -\gamma s \sum_j g_j .$$
# Put them into the three terms of $\partial L / \partial x_i$, replacing $x_i - \mu$ by $\hat x_i / s$:
# $$\frac{\partial L}{\partial x_i} = \gamma s\, g_i
#   \;-\; \tfrac12 \gamma s^2 \Big(\sum_j g_j \hat x_j\Big) \frac{2 \hat x_i}{s M}
#   \;-\; \gamma s \Big(\sum_j g_j\Big) \frac1M
#   = \frac{\gamma s}{M}\Big(M g_i - \hat x_i \sum_j g_j \hat x_j - \sum_j g_j\Big).$$
# Every term carries $\gamma s / M$; taking it out gives the one line we implement,
# $$\boxed{\;\frac{\partial L}{\partial x_i} = \frac{\gamma}{M\sqrt{\sigma^2+\epsilon}}
#   \Big(M g_i - \sum_j g_j - \hat x_i \sum_j g_j \hat x_j\Big)\;}$$
#
# (The inference-mode formula, $\gamma g_i / \sqrt{\sigma^2+\epsilon}$, is only the first term:
# using it in training would ignore that μ and σ² depend on the batch.)


# %%
def bn_backward(g, cache):
    """Gradients (dx, dgamma, dbeta) of training-mode BatchNorm for upstream gradient g."""
    xhat, inv_std, gamma = cache
    m = g.shape[0] * g.shape[2] * g.shape[3]
    dbeta = g.sum(axis=(0, 2, 3))
    dgamma = (g * xhat).sum(axis=(0, 2, 3))
    dx = (gamma[None, :, None, None] * inv_std / m) * (
        m * g - dbeta[None, :, None, None] - xhat * dgamma[None, :, None, None]
    )
    return dx, dgamma, dbeta


# %% [markdown]
# ## Does it agree? A `cmp` table
#
# A small batch, and a loss $L = \sum_i y_i c_i$ with fixed random $c$ (so $g = c$). We compare
# our hand-written gradients with two independent answers:
#
# * **autodiff**: the same forward pass written with PyTensor primitives (mean, subtract,
#   sqrt, ...) and differentiated by `pytensor.grad`, compiled to JAX, in float32;
# * **finite differences**: nudge every input by ±h and watch the loss (float64, central
#   differences), no calculus at all.
#
# `cmp` prints whether the two arrays are bit-for-bit equal, whether they are `allclose`, and the
# largest absolute difference.

# %%
import pytensor
import pytensor.tensor as pt

rng = np.random.default_rng(0)
x_val = (rng.normal(size=(4, 3, 5, 5)) * 2.0 + 0.5).astype("float32")
gamma_val = rng.normal(size=3).astype("float32")
beta_val = rng.normal(size=3).astype("float32")
c_val = rng.normal(size=x_val.shape).astype("float32")


def cmp(name, manual, reference, rtol=1e-5, atol=1e-5):
    manual, reference = np.asarray(manual), np.asarray(reference)
    exact = bool(np.all(manual == reference))
    close = bool(np.allclose(manual, reference, rtol=rtol, atol=atol))
    maxdiff = float(np.max(np.abs(manual.astype(np.float64) - reference)))
    print(f"{name:28s} | exact: {str(exact):5s} | allclose: {str(close):5s} | maxdiff: {maxdiff:.2e}")
    return close


# Autodiff through the primitive formulation
x = pt.tensor("x", dtype="float32", shape=(None, 3, None, None))
gamma = pt.tensor("gamma", dtype="float32", shape=(3,))
beta = pt.tensor("beta", dtype="float32", shape=(3,))
c = pt.tensor("c", dtype="float32", shape=(None, 3, None, None))
mean = x.mean(axis=(0, 2, 3), keepdims=True)
var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
y_prim = (x - mean) / pt.sqrt(var + np.float32(1e-3)) * gamma[None, :, None, None] + beta[None, :, None, None]
autodiff_fn = pytensor.function(
    [x, gamma, beta, c], pytensor.grad((y_prim * c).sum(), [x, gamma, beta]), mode="JAX"
)
autodiff = [np.asarray(a) for a in autodiff_fn(x_val, gamma_val, beta_val, c_val)]

# Our hand-written gradients (float32, like the autodiff run)
_, cache = bn_forward(x_val, gamma_val, beta_val)
manual = bn_backward(c_val, cache)


# Finite differences in float64
def finite_differences(loss, arrays, h=1e-5):
    grads = []
    for k, a in enumerate(arrays):
        grad = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[k][idx] += h
            minus[k][idx] -= h
            grad[idx] = (loss(*plus) - loss(*minus)) / (2 * h)
        grads.append(grad)
    return grads


arrays64 = [v.astype(np.float64) for v in (x_val, gamma_val, beta_val)]
c64 = c_val.astype(np.float64)
numeric = finite_differences(lambda a, b, d: (bn_forward(a, b, d)[0] * c64).sum(), arrays64)
_, cache64 = bn_forward(*arrays64)
manual64 = bn_backward(c64, cache64)

print("vs autodiff (float32, PyTensor -> JAX)")
ok = [cmp(f"  d{n}", m, a) for n, m, a in zip(("x", "gamma", "beta"), manual, autodiff)]
print("vs finite differences (float64)")
ok += [
    cmp(f"  d{n}", m, f, rtol=1e-6, atol=1e-6) for n, m, f in zip(("x", "gamma", "beta"), manual64, numeric)
]
assert all(ok)

# %% [markdown]
# "exact: False" is expected: the two computations add the same numbers in different orders,
# and float32 keeps about seven digits. `allclose` with a maximum difference around $10^{-7}$
# (float32) or $10^{-10}$ (float64) is what agreement looks like.
#
# ## Training mode vs inference mode
#
# A network cannot normalise a single image with batch statistics at inference time, so
# BatchNorm keeps *running* estimates, updated at every training step:
# $$\text{running} \leftarrow 0.97\,\text{running} + 0.03\,\text{batch}$$
# (PyTorch's `momentum=0.03`, Ultralytics' setting). One subtlety: the running variance is fed
# with the *unbiased* batch variance (divide by $M-1$), while the normalisation itself uses the
# biased one. `yolo_lib.ops.batch_norm_train` therefore returns three things: the output, the
# batch mean and the unbiased batch variance; `running_stat_updates` turns them into the update
# pairs `pytensor.function(updates=...)` expects, and `batch_norm_eval` normalises with the
# running statistics.
#
# Below: batches drawn from a distribution with per-channel mean (2, -1, 0) and standard
# deviation (3, 0.5, 1). In training mode every batch comes out with mean β and standard deviation
# |γ| whatever the data; the running statistics drift from their initial (0, 1) towards the
# data's and, after enough steps, eval mode produces nearly the same output.

# %%
import matplotlib.pyplot as plt

from yolo_lib.ops import batch_norm_eval, batch_norm_train, running_stat_updates

true_mean = np.array([2.0, -1.0, 0.0], dtype="float32")
true_std = np.array([3.0, 0.5, 1.0], dtype="float32")
running_mean = pytensor.shared(np.zeros(3, "float32"), shape=(3,), name="running_mean")
running_var = pytensor.shared(np.ones(3, "float32"), shape=(3,), name="running_var")

y_train, batch_mean, batch_var = batch_norm_train(x, gamma, beta)
y_eval = batch_norm_eval(x, gamma, beta, running_mean, running_var)
train_step = pytensor.function(
    [x, gamma, beta],
    y_train,
    updates=running_stat_updates(running_mean, running_var, batch_mean, batch_var),
    mode="JAX",
)
eval_fn = pytensor.function([x, gamma, beta], y_eval, mode="JAX")

ones, zeros = np.ones(3, "float32"), np.zeros(3, "float32")
steps = 150 if PROFILE.name == "full" else 100
history = []
for step in range(steps):
    batch = (rng.normal(size=(8, 3, 6, 6)) * true_std[:, None, None] + true_mean[:, None, None]).astype(
        "float32"
    )
    out = np.asarray(train_step(batch, ones, zeros))
    history.append((np.asarray(running_mean.get_value()).copy(), np.asarray(running_var.get_value()).copy()))
print("last training batch, per-channel mean of y:", np.round(out.mean(axis=(0, 2, 3)), 4))
print("last training batch, per-channel std  of y:", np.round(out.std(axis=(0, 2, 3)), 4))

means, variances = map(np.array, zip(*history))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ch in range(3):
    axes[0].plot(means[:, ch], label=f"channel {ch}")
    axes[0].axhline(true_mean[ch], ls=":", c=f"C{ch}")
    axes[1].plot(variances[:, ch], label=f"channel {ch}")
    axes[1].axhline(true_std[ch] ** 2, ls=":", c=f"C{ch}")
axes[0].set(title="running_mean (dotted: true mean)", xlabel="training step")
axes[1].set(title="running_var (dotted: true variance)", xlabel="training step")
axes[0].legend()
plt.tight_layout()
plt.show()

expected_after = 1 - 0.97**steps
print(f"after {steps} steps the initial values weigh 0.97^{steps} = {0.97**steps:.3f}")
assert np.allclose(means[-1], true_mean * expected_after, atol=0.25)

test_batch = (rng.normal(size=(8, 3, 6, 6)) * true_std[:, None, None] + true_mean[:, None, None]).astype(
    "float32"
)
y_e = np.asarray(eval_fn(test_batch, ones, zeros))
y_t = np.asarray(batch_norm_train(test_batch, ones, zeros)[0].eval())
eval_vs_train = float(np.abs(y_e - y_t).mean())
print("eval-mode vs train-mode output on a fresh batch, mean |diff|:", eval_vs_train)
assert eval_vs_train < 0.1, "the running statistics should have converged to the data's"

# %% [markdown]
# ## Hand-written vs autodiff backward: speed under JAX
#
# Is writing the backward pass by hand worth it for speed? XLA fuses elementwise work either
# way, so the difference is smaller than one might guess. We time one forward+backward of a
# BatchNorm at the size of an early YOLO11n layer (smoke: a smaller one), both compiled to JAX:
# `yolo_lib`'s Op (analytic backward) and the primitive formulation (autodiff), called in turn.
# Timings depend on the machine and on what else runs on it, so they are printed, not asserted:
# on a shared 2-core CPU they vary by a factor of two between runs, in either direction.

# %%
import time

import jax


def interleaved_median_ms(fns, args, repeats):
    """Median wall time (ms) of each function, called in turn so that both see the same load."""
    for fn in fns:
        jax.block_until_ready(fn(*args))  # compile and warm up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            ts.append(time.perf_counter() - t0)
    return [1e3 * float(np.median(ts)) for ts in times]


shape = (16, 32, 160, 160) if PROFILE.name == "full" else (8, 16, 40, 40)
xb = rng.normal(size=shape).astype("float32")
cb = rng.normal(size=shape).astype("float32")
gb, bb = rng.normal(size=shape[1]).astype("float32"), rng.normal(size=shape[1]).astype("float32")
xs = pt.tensor("xs", dtype="float32", shape=shape)
gs = pt.tensor("gs", dtype="float32", shape=(shape[1],))
bs = pt.tensor("bs", dtype="float32", shape=(shape[1],))
cs = pt.tensor("cs", dtype="float32", shape=shape)
mean_s = xs.mean(axis=(0, 2, 3), keepdims=True)
var_s = ((xs - mean_s) ** 2).mean(axis=(0, 2, 3), keepdims=True)
y_prim_s = (xs - mean_s) / pt.sqrt(var_s + np.float32(1e-3)) * gs[None, :, None, None] + bs[
    None, :, None, None
]
y_op_s = batch_norm_train(xs, gs, bs)[0]
analytic_fn = pytensor.function(
    [xs, gs, bs, cs], pytensor.grad((y_op_s * cs).sum(), [xs, gs, bs]), mode="JAX"
)
autodiff_fn_s = pytensor.function(
    [xs, gs, bs, cs], pytensor.grad((y_prim_s * cs).sum(), [xs, gs, bs]), mode="JAX"
)
repeats = 50 if PROFILE.name == "full" else 20
t_analytic, t_autodiff = interleaved_median_ms([analytic_fn, autodiff_fn_s], (xb, gb, bb, cb), repeats)
print(
    f"forward+backward at {shape}: analytic {t_analytic:.2f} ms, autodiff {t_autodiff:.2f} ms (median of {repeats})"
)
print(f"autodiff / analytic = {t_autodiff / t_analytic:.2f}")

# %% [markdown]
# ## Exercise 1 · the backward pass in stages
#
# Write `bn_backward_staged(g, x, gamma, eps)` for a training-mode BatchNorm of `x` (N, C, H, W)
# **without** the boxed formula: recompute the forward pass (μ, σ², x̂), then walk back one
# stage at a time exactly as in the derivation: ∂L/∂β and ∂L/∂γ, ∂L/∂x̂, ∂L/∂σ², ∂L/∂μ and
# finally ∂L/∂x as the sum of its three paths. Return `(dx, dgamma, dbeta)` with the shapes of
# `x`, `gamma` and `gamma`. Sums over a channel are `.sum(axis=(0, 2, 3), keepdims=True)`.
#
# The check cell compares your three arrays with the gradient of `yolo_lib`'s BatchNorm Op and
# names the first array and element that disagree. Until you fill in the stub it checks the
# hidden solution instead (the collapsed cell below the stub: expand it only to compare).


# %%
def bn_backward_staged(g, x, gamma, eps=1e-3):
    """YOUR CODE: (dx, dgamma, dbeta) of training-mode BatchNorm for upstream gradient g."""
    raise NotImplementedError("exercise 1: write the backward pass stage by stage")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_bn_backward_staged(g, x, gamma, eps=1e-3):
    """Solution of exercise 1: the derivation, one stage per line."""
    import numpy as np

    axes = (0, 2, 3)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    gam = gamma[None, :, None, None]
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    dbeta = g.sum(axis=axes)
    dgamma = (g * xhat).sum(axis=axes)
    dxhat = gam * g
    dvar = (dxhat * xc).sum(axis=axes, keepdims=True) * -0.5 * inv_std**3
    dmu = -(dxhat * inv_std).sum(axis=axes, keepdims=True)  # the path through σ² adds 0
    dx = dxhat * inv_std + dvar * 2.0 * xc / m + dmu / m
    return dx, dgamma, dbeta


# %%
from yolo_lib.notebook.exercises import check_bn_backward, run_exercise

run_exercise(check_bn_backward, bn_backward_staged, solution_bn_backward_staged);

# %% [markdown]
# ## The library version
#
# `yolo_lib.ops.BatchNormTrain` is exactly this derivation packaged as a PyTensor `Op`: its
# `pullback` method returns the boxed formula above (plus the small extra terms when the batch
# statistics themselves receive gradients), its `perform` runs the forward pass in numpy, and a
# JAX implementation is registered with `jax_funcify`. The float64 finite-difference checks of
# every Op run in `tests/test_ops_verify_grad.py`. One last comparison: the Op's gradient and our
# notebook's `bn_backward` on the same data.

# %%
op_grads = pytensor.function(
    [x, gamma, beta, c],
    pytensor.grad((batch_norm_train(x, gamma, beta)[0] * c).sum(), [x, gamma, beta]),
    mode="JAX",
)
assert all(
    cmp(f"Op vs notebook d{n}", o, m)
    for n, o, m in zip(("x", "gamma", "beta"), op_grads(x_val, gamma_val, beta_val, c_val), manual)
)

# %% [markdown]
# Next: notebook 02 shows how such Ops are written (Conv2d as the example), how their gradients
# become further Ops, and how they are lowered to JAX.

# %% [markdown]
# ## Takeaway
#
# * In training mode the batch mean and variance depend on x, so dx is not just
#   g * gamma / sigma: two mean terms subtract the parts that move the statistics.
# * Eval mode normalises with running estimates (momentum 0.03); after enough steps they match
#   the data's statistics, and eval and train outputs agree.
# * Under XLA a hand-written backward is not faster than autodiff's: its value here is that it
#   is understood and tested, and that the Op carries it into every framework PyTensor targets.
#
# ## What to try next
#
# * Make one channel of `x_val` constant and rerun the checks: what does eps do there?
# * Change the momentum in `running_stat_updates` and watch the running-mean plot.
# * Time the backward pass with `YOLO_PROFILE=full` (the size of an early YOLO11n layer).
