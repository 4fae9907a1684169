"""The converter registries: PyTensor Op type -> function that emits ONNX nodes.

Two ``functools.singledispatch`` registries, no central if-chain:

* :func:`onnx_converter` dispatches on the type of ``node.op``. A converter has the signature
  ``converter(op, node, builder) -> list[str]`` and returns one ONNX value name per
  ``node.outputs`` entry.
* :func:`scalar_converter` dispatches on the type of an ``Elemwise``'s ``scalar_op`` (Add, Exp,
  Sigmoid, ...). Signature ``converter(scalar_op, node, builder, inputs) -> str`` where
  ``inputs`` are the ONNX names of the node's inputs, already cast to the computation dtype.

Register a new Op with ``@onnx_converter.register(MyOp)``. An Op without a converter raises
:class:`UnsupportedOpError` naming the Op and where it sits in the graph.
"""

from __future__ import annotations

from functools import singledispatch


class UnsupportedOpError(TypeError):
    """Raised when the graph contains an Op that has no ONNX converter."""


def _describe_var(v) -> str:
    label = v.name or (f"output of {v.owner.op}" if v.owner is not None else type(v).__name__)
    return f"{label}: {getattr(v.type, 'dtype', '?')}{getattr(v.type, 'shape', '')}"


def describe_node(node, position: int | None = None) -> str:
    """Where ``node`` sits: its Op, its position in the topological order, and its inputs."""
    where = f"node #{position} of the topological order" if position is not None else "a node"
    return (f"Op {node.op} ({type(node.op).__module__}.{type(node.op).__name__}) at {where}, "
            f"inputs [{', '.join(_describe_var(v) for v in node.inputs)}]")


@singledispatch
def onnx_converter(op, node, builder) -> list[str]:
    """Emit the ONNX nodes computing ``node``; default: no converter registered."""
    raise UnsupportedOpError(
        f"no ONNX converter for {describe_node(node, builder.position)}. "
        f"Register one with @yolo_lib.export.onnx_converter.register({type(op).__name__})."
    )


@singledispatch
def scalar_converter(scalar_op, node, builder, inputs: list[str]) -> str:
    """Emit the ONNX node for one elementwise scalar op; default: unsupported."""
    raise UnsupportedOpError(
        f"no ONNX converter for the elementwise scalar op {type(scalar_op).__name__} in "
        f"{describe_node(node, builder.position)}. Register one with "
        f"@yolo_lib.export.scalar_converter.register({type(scalar_op).__name__})."
    )
