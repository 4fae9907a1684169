"""Compiled model functions, built once per (model, input shape) and cached on the model.

Graph rewriting is PyTensor's expensive step, and it is far cheaper on graphs whose shapes are
static (every reshape, anchor grid and shape check folds to constants). So each compiled
function is specialised to one input shape (B, 3, H, W), exactly as XLA specialises anyway,
and kept in ``model.compiled`` for reuse: never rebuild a function per batch.

Mode: PyTensor's JAX linker with the ``fast_compile`` rewrite set (plus the JAX-specific
rewrites) instead of ``fast_run``. XLA fuses elementwise code and folds constants itself, so the
``fast_run`` canonicalisation/specialisation/fusion passes only cost time: on the full model's
forward+gradient they took 2x longer to run for the same numbers (``benchmarks/bench_compile.py``).
XLA's own compilation is kept across processes by JAX's persistent compilation cache in
``<data dir>/jax_cache`` (set ``YOLO_JAX_CACHE=0`` to leave JAX's configuration alone).

* :func:`eval_function` — images (B, 3, H, W) float32 → decoded output (B, 4+nc, A)
  (``outputs="all"`` → dict of the 23 layer outputs, raw head outputs and the decoded output).
* :func:`train_forward_function` — train-mode forward: dict of layer/head outputs plus the BN
  running statistics it would produce (``bn/<buffer name>``); the model's buffers are not
  changed (``apply_updates=True`` writes them, as a training step does).
"""

from __future__ import annotations


import numpy as np
import pytensor
import pytensor.tensor as pt
from yolo_lib import settings
from yolo_lib.compilation import modes
from yolo_lib.model import YOLO11
from yolo_lib.paths import data_dir

#: The mode of every compiled model function (see :mod:`yolo_lib.compilation.modes`).
MODE = modes.MODEL


def enable_jax_cache() -> None:
    """Turn on JAX's persistent compilation cache in ``<data dir>/jax_cache`` (once)."""
    if not settings.jax_cache_enabled():
        return
    import jax

    if not jax.config.jax_compilation_cache_dir:
        path = data_dir() / "jax_cache"
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))


def check_float32() -> None:
    """Compiled model functions need floatX=float32 (yolo_lib sets it on import unless
    ``PYTENSOR_FLAGS`` names another floatX, or it was changed afterwards)."""
    if pytensor.config.floatX != "float32":
        raise RuntimeError(
            f"pytensor floatX is {pytensor.config.floatX}; the model runs in float32. Set "
            "pytensor.config.floatX = 'float32' or PYTENSOR_FLAGS=floatX=float32")


def images_variable(batch: int, h: int, w: int):
    """A symbolic float32 image batch with the static shape (batch, 3, h, w)."""
    for name, v in (("batch", batch), ("height", h), ("width", w)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    return pt.tensor4("images", dtype="float32", shape=(int(batch), 3, int(h), int(w)))


def output_names(model: YOLO11) -> list[str]:
    """Fixture-style names of the forward outputs: layer00..22, box_raw_P3.., cls_raw_P3.."""
    levels = [f"P{i}" for i in (3, 4, 5)]
    return ([f"layer{i:02d}" for i in range(len(model.layer_info) - 1)]
            + [f"box_raw_{p}" for p in levels] + [f"cls_raw_{p}" for p in levels])


def _cached(model: YOLO11, key, build):
    cache = model.__dict__.setdefault("compiled", {})
    if key not in cache:
        check_float32()
        enable_jax_cache()
        cache[key] = build()
    return cache[key]


def _checked_call(fn, shape, names):
    def call(images):
        images = np.asarray(images, dtype=np.float32)
        if images.shape != shape:
            raise ValueError(f"this compiled function takes images of shape {shape}, got "
                             f"{images.shape}; ask for a function of the new shape instead")
        values = fn(images)
        return dict(zip(names, values)) if names else values[0]
    return call


def eval_function(model: YOLO11, batch: int, h: int, w: int, outputs: str = "decoded"):
    """Cached eval-mode function for images of shape (batch, 3, h, w); see module docstring."""
    if outputs not in ("decoded", "all"):
        raise ValueError(f"outputs must be 'decoded' or 'all', got {outputs!r}")

    def build():
        x = images_variable(batch, h, w)
        out = model.forward(x, train=False)
        if outputs == "decoded":
            fn = pytensor.function([x], [out.decoded()], mode=MODE)
            return _checked_call(fn, x.type.shape, None)
        fn = pytensor.function([x], out.layers + out.box + out.cls + [out.decoded()], mode=MODE)
        return _checked_call(fn, x.type.shape, output_names(model) + ["inference_out"])

    return _cached(model, ("eval", outputs, batch, h, w), build)


def train_forward_function(model: YOLO11, batch: int, h: int, w: int, apply_updates: bool = False):
    """Cached train-mode forward for images (batch, 3, h, w) → dict of outputs and new BN stats."""

    def build():
        x = images_variable(batch, h, w)
        out = model.forward(x, train=True)
        names = output_names(model)
        values = out.layers + out.box + out.cls
        names += [f"bn/{var.name}" for var, _ in out.updates]
        values += [new for _, new in out.updates]
        updates = out.updates if apply_updates else []
        fn = pytensor.function([x], values, updates=updates, mode=MODE)
        return _checked_call(fn, x.type.shape, names)

    return _cached(model, ("train", apply_updates, batch, h, w), build)


def block_function(module, input_shapes: list[tuple[int, ...]], train: bool = False, outputs=None):
    """Compile one block alone (notebooks): numpy NCHW inputs of ``input_shapes`` → numpy output.

    ``module`` is any :class:`yolo_lib.nn.Module`; several inputs are passed as a list (Concat,
    Detect). ``outputs``, if given, is a function ``(module, inputs, ctx) -> list of variables``
    to compile instead of the block's forward (e.g. attention weights). Not cached: blocks are
    small, and a notebook compiles each once.
    """
    from yolo_lib.nn import ForwardContext

    check_float32()
    enable_jax_cache()
    xs = [pt.tensor4(f"x{i}", dtype="float32", shape=tuple(s)) for i, s in enumerate(input_shapes)]
    ctx = ForwardContext(train=train)
    arg = xs if len(xs) > 1 else xs[0]
    if outputs is not None:
        values = list(outputs(module, arg, ctx))
    else:
        y = module(arg, ctx)
        values = [*y[0], *y[1]] if isinstance(y, tuple) else [y]
    fn = pytensor.function(xs, values, mode=MODE)

    def call(*arrays):
        res = [np.asarray(v) for v in fn(*[np.asarray(a, np.float32) for a in arrays])]
        return res if len(res) > 1 else res[0]

    return call
