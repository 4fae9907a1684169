"""Arithmetic precision of the convolutions in a traced JAX program: ``tf32``, ``float32`` or ``bfloat16``.

Every tensor of the project is float32 (weights, activations, optimizer state, BN statistics,
loss); what a precision changes is how the convolutions and matrix products multiply:

``tf32`` (the default)
    JAX's default precision. On an Ampere or Hopper GPU (A100, H100, H200) float32 convolutions
    and matrix products run on TF32 tensor cores (inputs rounded to 10 mantissa bits, float32
    accumulation); on a CPU this is plain float32.
``float32``
    Full float32 products everywhere (``jax.default_matmul_precision("float32")``): slower on a
    GPU, the same as ``tf32`` on a CPU.
``bfloat16``
    Mixed precision as PyTorch's autocast does it: the two operands of every convolution (the
    forward and both gradients of :class:`yolo_lib.ops.Conv2d`) are rounded to bfloat16, the
    product accumulates in float32 and the result is stored as bfloat16, then widened back to
    float32 where the graph continues (XLA fuses that cast into the next operation, so the
    tensor written to memory is the bfloat16 one). The master weights, BN, the loss and the
    optimizer stay float32, as do the attention block's matrix products (at most 20 x 20 tokens).
    The program says so on every backend (bfloat16 operands and result types); a CPU has no
    bfloat16 convolution, so XLA computes it in float32 and, allowed excess precision by default,
    keeps the product unrounded: there only the operands' rounding shows in the numbers.

A precision is chosen when a program is traced, not per call::

    with tracing_precision("bfloat16"):
        exported = jax.export.export(jax.jit(jax_funcify(fgraph)))(*specs)

:func:`yolo_lib.compilation.step_cache.cached_function` does this (its ``precision`` argument, part of the
cache key); the conv lowering (:func:`yolo_lib.ops.conv_lowering.jax_lowering`) asks
:func:`conv_dtype` while the program is built. The numbers above are rounding facts, not speed
claims: which precision is fastest is measured (docs/benchmarks.md).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

#: name -> one-line meaning (module docstring)
PRECISIONS = {
    "tf32": "JAX's default: TF32 tensor cores for float32 convolutions on an Ampere/Hopper GPU, float32 on a CPU",
    "float32": "full float32 convolutions and matrix products",
    "bfloat16": "convolution operands and results in bfloat16 (float32 accumulation, weights, BN, loss)",
}
DEFAULT = "tf32"

_conv_dtype: ContextVar[str | None] = ContextVar("conv_dtype", default=None)


def check_precision(name: str) -> str:
    """``name`` if it is one of :data:`PRECISIONS`, else a one-line ValueError."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {name!r}")
    return name


@contextmanager
def tracing_precision(name: str):
    """Trace (``jax_funcify``, ``jax.jit(...).lower`` or ``jax.export``) inside this block to get
    ``name``'s arithmetic in the traced program."""
    import jax

    check_precision(name)
    token = _conv_dtype.set("bfloat16" if name == "bfloat16" else None)
    try:
        if name == "float32":
            with jax.default_matmul_precision("float32"):
                yield
        else:
            yield
    finally:
        _conv_dtype.reset(token)


def conv_dtype() -> str | None:
    """The dtype convolution operands are rounded to in the program being traced (None: as given)."""
    return _conv_dtype.get()


def with_operands_in(dtype: str, fn):
    """``fn(a, b, *rest)`` with ``a`` and ``b`` cast to ``dtype`` and the result cast back to ``a``'s
    dtype: a convolution (or one of its gradients) computed in ``dtype`` inside a float32 graph.
    ``rest`` (a gradient's shape donor) is passed unchanged."""

    def run(a, b, *rest):
        return fn(a.astype(dtype), b.astype(dtype), *rest).astype(a.dtype)

    return run
