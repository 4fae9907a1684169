"""Reductions, Softmax/LogSoftmax, Argmax and matrix products (Dot, batched Matmul)."""

from __future__ import annotations

import pytensor.scalar.basic as ps
from pytensor.tensor.blockwise import Blockwise
from pytensor.tensor.elemwise import CAReduce
from pytensor.tensor.math import Argmax, Dot
from pytensor.tensor.special import LogSoftmax, Softmax

from yolo_lib.export.registry import UnsupportedOpError, describe_node, onnx_converter

_REDUCE_OPS = {ps.Add: "ReduceSum", ps.Mul: "ReduceProd", ps.ScalarMaximum: "ReduceMax",
               ps.Maximum: "ReduceMax", ps.ScalarMinimum: "ReduceMin", ps.Minimum: "ReduceMin"}
_BOOL_REDUCE_OPS = {ps.AND: "ReduceMin", ps.OR: "ReduceMax"}  # all / any over 0/1 integers


def _hint(node, default):
    return node.outputs[0].name or default


def _axes(op, ndim: int):
    return list(range(ndim)) if op.axis is None else [a % ndim for a in op.axis]


@onnx_converter.register(CAReduce)
def _careduce(op, node, b):
    """Sum/Prod/Max/Min over static axes; All/Any via a Min/Max over booleans cast to int."""
    x = node.inputs[0]
    out_dtype = node.outputs[0].type.dtype
    axes = _axes(op, x.type.ndim)
    scalar = type(op.scalar_op)
    if scalar in _BOOL_REDUCE_OPS:
        red = b.axes_input_or_attr(_BOOL_REDUCE_OPS[scalar], b.input_as(x, "int32"), axes, keepdims=0)
        return b.node("Cast", [red], hint=_hint(node, "reduce_bool"), to=9)
    if scalar not in _REDUCE_OPS:
        raise UnsupportedOpError(f"no ONNX reduction for {scalar.__name__} in {describe_node(node, b.position)}")
    # PyTensor accumulates float32 sums in float64 (acc_dtype); ONNX runtimes accumulate float32
    # in float32 registers with pairwise/vectorised sums, close enough for 1e-5 relative parity.
    data = b.input_as(x, out_dtype)
    return [b.axes_input_or_attr(_REDUCE_OPS[scalar], data, axes, hint=_hint(node, "reduce"), keepdims=0)]


@onnx_converter.register(Argmax)
def _argmax(op, node, b):
    axes = _axes(op, node.inputs[0].type.ndim)
    if len(axes) != 1:
        raise UnsupportedOpError(f"Argmax over several axes {axes} in {describe_node(node, b.position)}")
    return b.node("ArgMax", [b.name(node.inputs[0])], hint=_hint(node, "argmax"), axis=axes[0], keepdims=0)


def _softmax_axis(op, node, b):
    if op.axis is None:
        raise UnsupportedOpError(f"softmax over all axes (axis=None) in {describe_node(node, b.position)}")
    axis = op.axis[0] if isinstance(op.axis, tuple) else op.axis
    return int(axis)


@onnx_converter.register(Softmax)
def _softmax(op, node, b):
    return b.node("Softmax", [b.name(node.inputs[0])], hint=_hint(node, "softmax"), axis=_softmax_axis(op, node, b))


@onnx_converter.register(LogSoftmax)
def _log_softmax(op, node, b):
    return b.node("LogSoftmax", [b.name(node.inputs[0])], hint=_hint(node, "log_softmax"),
                  axis=_softmax_axis(op, node, b))


def _matmul(op, node, b):
    dtype = node.outputs[0].type.dtype
    return b.node("MatMul", [b.input_as(v, dtype) for v in node.inputs], hint=_hint(node, "matmul"))


onnx_converter.register(Dot)(_matmul)


@onnx_converter.register(Blockwise)
def _blockwise(op, node, b):
    """Batched core ops; only the batched matrix product (``pt.matmul``) is exported."""
    if isinstance(op.core_op, Dot):
        return _matmul(op, node, b)
    raise UnsupportedOpError(f"no ONNX converter for Blockwise({op.core_op}) in {describe_node(node, b.position)}")
