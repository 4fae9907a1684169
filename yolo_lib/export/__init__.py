"""PyTensor graph -> ONNX exporter (no PyTensor release ships one).

How it works:

1. :func:`~yolo_lib.export.builder.graph_to_onnx` walks the *un-rewritten* graph
   (``FunctionGraph(clone=True)``) in topological order and emits ONNX nodes through the
   registry :func:`onnx_converter` (``functools.singledispatch`` on the Op type; ``Elemwise``
   dispatches again on its scalar op via :func:`scalar_converter`). Parameters become
   initializers; nodes whose inputs are constants are evaluated at export time.
2. :func:`~yolo_lib.export.optimize.optimize` folds constants and static shape arithmetic,
   folds BatchNormalization into the preceding Conv and drops Identity/dead nodes.

Public API: :func:`export_graph` (any graph), :func:`yolo_lib.export.yolo.export_yolo`
(the detector, with metadata), ``python -m yolo_lib.export`` (command line).
"""

from __future__ import annotations

import onnx

from yolo_lib.export import converters  # noqa: F401  (registers every converter)
from yolo_lib.export.builder import SUPPORTED_OPSETS, graph_to_onnx
from yolo_lib.export.optimize import optimize
from yolo_lib.export.registry import UnsupportedOpError, onnx_converter, scalar_converter

__all__ = ["SUPPORTED_OPSETS", "UnsupportedOpError", "export_graph", "onnx_converter", "scalar_converter"]


def export_graph(
    inputs,
    outputs,
    input_names=None,
    output_names=None,
    dynamic_axes=None,
    opset: int = 18,
    optimize_graph: bool = True,
    metadata: dict[str, str] | None = None,
    check: bool = True,
) -> onnx.ModelProto:
    """Export the PyTensor graph ``inputs -> outputs`` to an ONNX ModelProto.

    ``dynamic_axes`` maps an input/output name to ``{axis: symbolic name}``. ``metadata`` goes
    into ``metadata_props``. With ``check`` the result passes ``onnx.checker.check_model(full_check=True)``.
    """
    model = graph_to_onnx(inputs, outputs, input_names, output_names, dynamic_axes, opset)
    if optimize_graph:
        model = optimize(model)
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=str(key), value=str(value))
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model
