"""The project's own CNN Ops (yolo_lib.ops): Conv2d, MaxPool2d, UpsampleNearest, BatchNormEval.

Each maps to one ONNX node with the same semantics. ``BatchNormEval`` becomes a
``BatchNormalization`` node that :mod:`yolo_lib.export.optimize` folds into the preceding Conv.
Training-only Ops (BatchNormTrain, gradient Ops) have no converter on purpose: exporting a
training graph raises :class:`~yolo_lib.export.registry.UnsupportedOpError`.
"""

from __future__ import annotations

import numpy as np

from yolo_lib.export.registry import describe_node, onnx_converter
from yolo_lib.ops import BatchNormEval, Conv2d, MaxPool2d, UpsampleNearest


def _pads(padding) -> list[int]:
    """((top, bottom), (left, right)) -> ONNX [top, left, bottom, right]."""
    (top, bottom), (left, right) = padding
    return [top, left, bottom, right]


def _hint(node, default):
    return node.outputs[0].name or default


@onnx_converter.register(Conv2d)
def _conv2d(op, node, b):
    x, w = node.inputs
    kernel = w.type.shape[2:]
    if None in kernel:
        raise ValueError(f"the kernel size of {describe_node(node, b.position)} must be static")
    dtype = node.outputs[0].type.dtype
    return b.node(
        "Conv", [b.input_as(x, dtype), b.input_as(w, dtype)], hint=_hint(node, "conv"),
        kernel_shape=list(kernel), strides=list(op.stride), pads=_pads(op.padding),
        dilations=list(op.dilation), group=op.groups,
    )


@onnx_converter.register(MaxPool2d)
def _max_pool2d(op, node, b):
    """ONNX MaxPool ignores padded cells, i.e. pads with -inf like our Op."""
    return b.node("MaxPool", [b.name(node.inputs[0])], hint=_hint(node, "maxpool"),
                  kernel_shape=list(op.kernel_size), strides=list(op.stride), pads=_pads(op.padding))


@onnx_converter.register(UpsampleNearest)
def _upsample_nearest(op, node, b):
    scales = b.const(np.asarray([1.0, 1.0, *op.scale], "float32"), "scales")
    return b.node("Resize", [b.name(node.inputs[0]), "", scales], hint=_hint(node, "upsample"),
                  mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@onnx_converter.register(BatchNormEval)
def _batch_norm_eval(op, node, b):
    dtype = node.outputs[0].type.dtype
    return b.node("BatchNormalization", [b.input_as(v, dtype) for v in node.inputs], hint=_hint(node, "bn"),
                  epsilon=op.eps)
