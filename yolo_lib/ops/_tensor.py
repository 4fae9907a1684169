"""Small PyTensor helpers shared by the Ops: float inputs and a common dtype."""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor import config
from pytensor.scalar.basic import upcast


def float_inputs(*values):
    """Tensor variables cast to one common float dtype (integers become ``floatX``)."""
    tensors = [pt.as_tensor_variable(v) for v in values]
    dtype = upcast(*(t.type.dtype for t in tensors))
    if not dtype.startswith("float"):
        dtype = config.floatX
    return [t if t.type.dtype == dtype else pt.cast(t, dtype) for t in tensors]
