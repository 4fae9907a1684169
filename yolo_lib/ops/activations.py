"""Activation functions written as plain PyTensor expressions (PyTensor fuses them)."""

from __future__ import annotations

import pytensor.tensor as pt


def silu(x):
    """SiLU (swish): x * sigmoid(x), elementwise, any shape."""
    return x * pt.sigmoid(x)
