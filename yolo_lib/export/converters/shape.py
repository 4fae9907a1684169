"""Shape and layout Ops: DimShuffle, Reshape, Shape, Shape_i, MakeVector, Join, Split, Subtensor.

Index and axis arguments must be known at export time (constants, or shape arithmetic that the
builder folded); data-dependent indexing raises a clear error.
"""

from __future__ import annotations

import numpy as np
from pytensor.tensor.basic import Join, MakeVector, ScalarFromTensor, Split, TensorFromScalar
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.shape import Reshape, Shape, Shape_i, SpecifyShape
from pytensor.tensor.subtensor import Subtensor, indices_from_subtensor

from yolo_lib.export.registry import describe_node, onnx_converter

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def require_static(b, var, node, what: str) -> np.ndarray:
    """The export-time value of ``var``, or a ValueError saying which argument is dynamic."""
    value = b.static_value(var)
    if value is None:
        raise ValueError(f"the {what} of {describe_node(node, b.position)} must be known at export time")
    return value


def _hint(node, default):
    return node.outputs[0].name or default


@onnx_converter.register(DimShuffle)
def _dimshuffle(op, node, b):
    """Squeeze the dropped axes, transpose the kept ones, unsqueeze the new broadcast axes."""
    x = b.name(node.inputs[0])
    if op.drop:
        x = b.node("Squeeze", [x, b.const(np.asarray(op.drop, "int64"), "axes")], hint="squeeze")[0]
    # after the squeeze the kept axes are renumbered 0..k-1 in their original order
    kept = sorted(op.shuffle)
    perm = [kept.index(a) for a in op.shuffle]
    if perm != sorted(perm):
        x = b.node("Transpose", [x], hint="transpose", perm=perm)[0]
    if op.augment:
        x = b.node("Unsqueeze", [x, b.const(np.asarray(op.augment, "int64"), "axes")], hint="unsqueeze")[0]
    if x == b.name(node.inputs[0]):
        x = b.node("Identity", [x], hint=_hint(node, "dimshuffle"))[0]
    return [x]


def _reshape_target(b, node) -> str:
    """The shape input of a Reshape; an entry equal to the input's own dim i becomes ONNX's 0 (copy).

    Keeping ``x.reshape((x.shape[0], ...))`` as a constant ``[0, ...]`` avoids Shape/Gather/Concat
    nodes and keeps the batch axis dynamic.
    """
    x, shape = node.inputs
    static = b.static_value(shape)
    if static is not None:
        return b.const(static.astype("int64"), "shape")
    if shape.owner is not None and isinstance(shape.owner.op, MakeVector):
        entries = []
        for i, elem in enumerate(shape.owner.inputs):
            value = b.static_value(elem)
            if value is not None:
                entries.append(int(value))
            elif _is_own_dim(elem, x, i):
                entries.append(0)
            else:
                break
        else:
            return b.const(np.asarray(entries, "int64"), "shape")
    return b.input_as(shape, "int64")


def _is_own_dim(elem, x, i: int) -> bool:
    """True when ``elem`` is ``x.shape[i]`` (as ``Shape_i`` or ``Subtensor{i}(Shape(x))``)."""
    owner = elem.owner
    if owner is None:
        return False
    if isinstance(owner.op, Shape_i):
        return owner.inputs[0] is x and owner.op.i == i
    if isinstance(owner.op, ScalarFromTensor):
        return _is_own_dim(owner.inputs[0], x, i)
    if isinstance(owner.op, Subtensor) and owner.inputs[0].owner is not None:
        src = owner.inputs[0].owner
        idx = indices_from_subtensor(owner.inputs[1:], owner.op.idx_list)
        if isinstance(src.op, Shape) and src.inputs[0] is x and len(idx) == 1:
            value = getattr(idx[0], "data", None)
            return value is not None and int(value) == i
    return False


@onnx_converter.register(Reshape)
def _reshape(op, node, b):
    return b.node("Reshape", [b.name(node.inputs[0]), _reshape_target(b, node)], hint=_hint(node, "reshape"))


@onnx_converter.register(SpecifyShape)
def _specify_shape(op, node, b):
    return b.node("Identity", [b.name(node.inputs[0])], hint=_hint(node, "specify_shape"))


@onnx_converter.register(Shape)
def _shape(op, node, b):
    return b.node("Shape", [b.name(node.inputs[0])], hint="shape")


@onnx_converter.register(Shape_i)
def _shape_i(op, node, b):
    dim = b.node("Shape", [b.name(node.inputs[0])], hint="shape", start=op.i, end=op.i + 1)[0]
    return b.node("Squeeze", [dim, b.const(np.asarray([0], "int64"), "axes")], hint=f"dim{op.i}")


@onnx_converter.register(MakeVector)
def _make_vector(op, node, b):
    axes = b.const(np.asarray([0], "int64"), "axes")
    parts = [b.node("Unsqueeze", [b.input_as(v, op.dtype), axes], hint="elem")[0] for v in node.inputs]
    return b.node("Concat", parts, hint=_hint(node, "vector"), axis=0)


@onnx_converter.register(ScalarFromTensor)
@onnx_converter.register(TensorFromScalar)
def _scalar_tensor(op, node, b):
    return b.node("Identity", [b.name(node.inputs[0])], hint="scalar")


@onnx_converter.register(Join)
def _join(op, node, b):
    axis = int(require_static(b, node.inputs[0], node, "axis"))
    dtype = node.outputs[0].type.dtype
    parts = [b.input_as(v, dtype) for v in node.inputs[1:]]
    return b.node("Concat", parts, hint=_hint(node, "concat"), axis=axis)


@onnx_converter.register(Split)
def _split(op, node, b):
    x, axis, splits = node.inputs
    axis = int(require_static(b, axis, node, "axis"))
    sizes = require_static(b, splits, node, "split sizes").astype("int64")
    return b.node("Split", [b.name(x), b.const(sizes, "split")], n_outputs=op.len_splits,
                  hint=_hint(node, "split"), axis=axis)


@onnx_converter.register(Subtensor)
def _subtensor(op, node, b):
    """Basic indexing with static slices and integers: one Slice, then Squeeze the int axes."""
    x = node.inputs[0]
    indices = indices_from_subtensor(node.inputs[1:], op.idx_list)

    def value(v, default):
        if v is None:
            return default
        if isinstance(v, (int, np.integer)):
            return int(v)
        return int(require_static(b, v, node, "index"))

    starts, ends, axes, steps, squeeze = [], [], [], [], []
    for axis, idx in enumerate(indices):
        if isinstance(idx, slice):
            step = value(idx.step, 1)
            start = value(idx.start, 0 if step > 0 else INT64_MAX)
            stop = value(idx.stop, INT64_MAX if step > 0 else INT64_MIN)
            if (start, stop, step) == (0, INT64_MAX, 1):
                continue
        else:
            start, step = value(idx, None), 1
            stop = start + 1 if start != -1 else INT64_MAX
            squeeze.append(axis)
        starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
    out = b.name(x)
    if axes:
        consts = [b.const(np.asarray(a, "int64"), h) for a, h in
                  ((starts, "starts"), (ends, "ends"), (axes, "axes"), (steps, "steps"))]
        out = b.node("Slice", [out, *consts], hint="slice")[0]
    if squeeze:
        out = b.node("Squeeze", [out, b.const(np.asarray(squeeze, "int64"), "axes")], hint="squeeze")[0]
    if out == b.name(x):
        out = b.node("Identity", [out], hint="subtensor")[0]
    return [out]
