"""Tensor-creating Ops: Alloc (fill a shape with a value) and ARange.

They appear when a graph builds tensors from runtime shapes, e.g. the anchor grid of a model
exported with a dynamic image size.
"""

from __future__ import annotations

import numpy as np
from pytensor.tensor.basic import ARange, Alloc

from yolo_lib.export.registry import onnx_converter


def _hint(node, default):
    return node.outputs[0].name or default


def shape_vector(b, dims) -> str:
    """An int64 1-D ONNX value from PyTensor scalars (constants folded into one initializer)."""
    static = [b.static_value(d) for d in dims]
    if all(v is not None for v in static):
        return b.const(np.asarray([int(v) for v in static], "int64"), "shape")
    axes = b.const(np.asarray([0], "int64"), "axes")
    parts = [b.node("Unsqueeze", [b.input_as(d, "int64"), axes], hint="dim")[0] for d in dims]
    return b.node("Concat", parts, hint="shape", axis=0)[0]


@onnx_converter.register(Alloc)
def _alloc(op, node, b):
    value, *dims = node.inputs
    dtype = node.outputs[0].type.dtype
    return b.node("Expand", [b.input_as(value, dtype), shape_vector(b, dims)], hint=_hint(node, "alloc"))


@onnx_converter.register(ARange)
def _arange(op, node, b):
    dtype = node.outputs[0].type.dtype
    return b.node("Range", [b.input_as(v, dtype) for v in node.inputs], hint=_hint(node, "arange"))
