"""Independent references for the yolo_lib.ops tests: direct jax.lax / numpy formulations.

Not a test module (no ``test_`` prefix); imported by tests/test_ops_*.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from pytensor.compile.mode import Mode

# numpy ``perform`` path: the pure-Python linker calls each Op's perform (no C compilation)
PERFORM_MODE = Mode(linker="py", optimizer="fast_compile")
MODES = {"JAX": "JAX", "perform": PERFORM_MODE}


def lax_conv(x, w, stride, padding, dilation, groups):
    """Reference NCHW/OIHW convolution; padding ((top, bottom), (left, right))."""
    return jax.lax.conv_general_dilated(
        x,
        w,
        stride,
        padding,
        rhs_dilation=dilation,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups,
    )


def lax_max_pool(x, kernel, stride, padding):
    """Reference max pool with -inf padding; padding ((top, bottom), (left, right))."""
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, 1, *kernel), (1, 1, *stride), ((0, 0), (0, 0), *padding)
    )


def torch_style_batch_norm_train(x, gamma, beta, eps=1e-3):
    """PyTorch training-mode BN written out in numpy: (y, batch mean, unbiased batch variance)."""
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    m = x.size // x.shape[1]
    y = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)
    return y * gamma[None, :, None, None] + beta[None, :, None, None], mean, var * m / (m - 1)


def max_abs_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))
