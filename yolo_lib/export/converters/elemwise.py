"""Elementwise Ops: ``Elemwise`` dispatches again on its ``scalar_op`` type.

The ``Elemwise`` converter casts every input to the computation dtype (ONNX binary ops want
equal input types, PyTensor upcasts implicitly), then calls :func:`scalar_converter`.
Broadcasting needs nothing: PyTensor already aligned the ranks and ONNX broadcasts like numpy.
"""

from __future__ import annotations

import numpy as np
import pytensor.scalar.basic as ps
import pytensor.scalar.math as psm
from pytensor.tensor.elemwise import Elemwise

from yolo_lib.export.builder import onnx_dtype
from yolo_lib.export.registry import onnx_converter, scalar_converter

# Scalar ops whose inputs are compared/combined in their own (upcast) dtype, not the output's.
_INPUT_DTYPE_OPS = (ps.LogicalComparison, ps.FixedLogicalComparison, ps.IsNan, ps.IsInf)


def _computation_dtype(node) -> str:
    op = node.op.scalar_op
    if isinstance(op, _INPUT_DTYPE_OPS):
        return ps.upcast(*[v.type.dtype for v in node.inputs])
    if isinstance(op, ps.Cast):
        return node.inputs[0].type.dtype
    return node.outputs[0].type.dtype


@onnx_converter.register(Elemwise)
def _elemwise(op, node, b):
    dtype = _computation_dtype(node)
    if isinstance(op.scalar_op, ps.Switch):
        names = [b.input_as(node.inputs[0], "bool")] + [b.input_as(v, dtype) for v in node.inputs[1:]]
    else:
        names = [b.input_as(v, dtype) for v in node.inputs]
    return [scalar_converter(op.scalar_op, node, b, names)]


def _hint(node, default):
    return node.outputs[0].name or default


def _simple(onnx_op):
    def convert(scalar_op, node, b, inputs):
        return b.node(onnx_op, inputs, hint=_hint(node, onnx_op))[0]

    return convert


def _chain(onnx_op):
    """An n-ary associative op as a chain of binary ONNX nodes."""

    def convert(scalar_op, node, b, inputs):
        acc = inputs[0]
        for other in inputs[1:]:
            acc = b.node(onnx_op, [acc, other], hint=_hint(node, onnx_op))[0]
        return acc

    return convert


for _scalar, _onnx in {
    ps.Sub: "Sub", ps.TrueDiv: "Div", ps.Neg: "Neg", ps.Exp: "Exp", ps.Log: "Log", ps.Sqrt: "Sqrt",
    ps.Pow: "Pow", ps.Abs: "Abs", ps.Tanh: "Tanh", ps.Floor: "Floor", ps.Ceil: "Ceil",
    ps.RoundHalfToEven: "Round", ps.Sign: "Sign", ps.Sin: "Sin", ps.Cos: "Cos", psm.Erf: "Erf",
    psm.Sigmoid: "Sigmoid", psm.Softplus: "Softplus", ps.GT: "Greater", ps.LT: "Less",
    ps.GE: "GreaterOrEqual", ps.LE: "LessOrEqual", ps.EQ: "Equal", ps.Switch: "Where",
    ps.Identity: "Identity", ps.Reciprocal: "Reciprocal", ps.IsNan: "IsNaN", ps.IsInf: "IsInf",
}.items():
    scalar_converter.register(_scalar)(_simple(_onnx))

for _scalar, _onnx in {ps.Add: "Add", ps.Mul: "Mul", ps.Maximum: "Max", ps.Minimum: "Min",
                       ps.AND: "And", ps.OR: "Or", ps.XOR: "Xor"}.items():
    scalar_converter.register(_scalar)(_chain(_onnx))


@scalar_converter.register(ps.NEQ)
def _neq(scalar_op, node, b, inputs):
    return b.node("Not", b.node("Equal", inputs, hint="eq"), hint=_hint(node, "neq"))[0]


@scalar_converter.register(ps.Invert)
def _invert(scalar_op, node, b, inputs):
    if node.inputs[0].type.dtype != "bool":
        return b.node("BitwiseNot", inputs, hint=_hint(node, "invert"))[0]
    return b.node("Not", inputs, hint=_hint(node, "not"))[0]


@scalar_converter.register(ps.Cast)
def _cast(scalar_op, node, b, inputs):
    return b.node("Cast", inputs, hint=_hint(node, "cast"), to=onnx_dtype(node.outputs[0].type.dtype))[0]


@scalar_converter.register(ps.Sqr)
def _sqr(scalar_op, node, b, inputs):
    return b.node("Mul", [inputs[0], inputs[0]], hint=_hint(node, "sqr"))[0]


@scalar_converter.register(ps.IntDiv)
def _int_div(scalar_op, node, b, inputs):
    dtype = node.outputs[0].type.dtype
    if np.issubdtype(np.dtype(dtype), np.integer):  # ONNX Div truncates; floor for negatives differs
        as_float = [b.node("Cast", [i], to=onnx_dtype("float64"))[0] for i in inputs]
        floored = b.node("Floor", b.node("Div", as_float))
        return b.node("Cast", floored, hint=_hint(node, "intdiv"), to=onnx_dtype(dtype))[0]
    return b.node("Floor", b.node("Div", inputs), hint=_hint(node, "intdiv"))[0]


@scalar_converter.register(ps.Clip)
def _clip(scalar_op, node, b, inputs):
    """ONNX Clip wants scalar bounds; PyTensor broadcasts them, so use Max(Min(x, hi), lo)."""
    upper = b.node("Min", [inputs[0], inputs[2]], hint="clip_hi")[0]
    return b.node("Max", [upper, inputs[1]], hint=_hint(node, "clip"))[0]


@scalar_converter.register(ps.Log1p)
def _log1p(scalar_op, node, b, inputs):
    one = b.const(np.ones((), dtype=node.outputs[0].type.dtype), "one")
    return b.node("Log", b.node("Add", [inputs[0], one]), hint=_hint(node, "log1p"))[0]


@scalar_converter.register(ps.Expm1)
def _expm1(scalar_op, node, b, inputs):
    one = b.const(np.ones((), dtype=node.outputs[0].type.dtype), "one")
    return b.node("Sub", [b.node("Exp", inputs)[0], one], hint=_hint(node, "expm1"))[0]


@scalar_converter.register(ps.Second)
def _second(scalar_op, node, b, inputs):
    """``second(a, b)`` = b broadcast to the shape of a (PyTensor's ``fill``)."""
    zero = b.const(np.zeros((), dtype=node.outputs[0].type.dtype), "zero")
    zeros_like_a = b.node("Mul", [inputs[0], zero])[0]
    return b.node("Add", [zeros_like_a, inputs[1]], hint=_hint(node, "fill"))[0]


@scalar_converter.register(ps.Mod)
def _mod(scalar_op, node, b, inputs):
    """Python's modulo (sign of the divisor): ONNX Mod fmod=0 for integers, a - floor(a/b)*b for floats."""
    if np.issubdtype(np.dtype(node.outputs[0].type.dtype), np.integer):
        return b.node("Mod", inputs, hint=_hint(node, "mod"), fmod=0)[0]
    floored = b.node("Floor", b.node("Div", inputs))[0]
    return b.node("Sub", [inputs[0], b.node("Mul", [floored, inputs[1]])[0]], hint=_hint(node, "mod"))[0]
