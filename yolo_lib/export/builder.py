"""Walk a PyTensor graph and build an ONNX ``GraphProto`` by dispatching each node's Op.

:func:`graph_to_onnx` clones the un-rewritten graph (``FunctionGraph(clone=True)``: the
user-level Ops, no fused ``Composite`` nodes), visits it in topological order and calls the
registered converter of every node. Nodes whose inputs are all known constants are evaluated
right here with the Op's own ``perform`` (shape arithmetic, casts of literals), so they cost no
ONNX node. Shared variables (parameters, BN buffers) become initializers under their own names.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.graph.fg import FunctionGraph
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.shape import Shape

from yolo_lib.export.registry import onnx_converter

SUPPORTED_OPSETS = (17, 18)


def onnx_dtype(dtype) -> int:
    """ONNX element type of a numpy/PyTensor dtype name."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class OnnxGraphBuilder:
    """Collects ONNX nodes and initializers while a PyTensor graph is walked.

    Converters call :meth:`name` / :meth:`input_as` to get the ONNX name of a PyTensor
    variable, :meth:`const` for a literal and :meth:`node` to append an ONNX node.
    """

    def __init__(self, opset: int = 18):
        if opset not in SUPPORTED_OPSETS:
            raise ValueError(f"opset must be one of {SUPPORTED_OPSETS}, got {opset!r}")
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.position: int | None = None  # topological index of the node being converted
        self._names: dict = {}  # PyTensor variable -> ONNX value name
        self._static: dict = {}  # PyTensor variable -> numpy value known at export time
        self._used: set[str] = set()
        self._const_cache: dict = {}

    # ---- names -----------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A value/node name not used before, derived from ``hint``."""
        base = "".join(c if c.isalnum() or c in "._/-" else "_" for c in hint) or "v"
        name, i = base, 1
        while name in self._used:
            name, i = f"{base}_{i}", i + 1
        self._used.add(name)
        return name

    def bind(self, var, name: str) -> None:
        """Record that PyTensor ``var`` is computed by the ONNX value ``name``."""
        self._names[var] = name

    def static_value(self, var) -> np.ndarray | None:
        """The value of ``var`` when it is known at export time (a constant), else None."""
        if isinstance(var, Constant):
            return np.asarray(var.data)
        return self._static.get(var)

    def name(self, var) -> str:
        """ONNX name of a PyTensor variable; a constant becomes an initializer on first use."""
        if var in self._names:
            return self._names[var]
        static = self.static_value(var)
        if static is not None:
            name = self.const(static, var.name or "const")
        else:
            raise ValueError(
                f"variable {var!r} is neither an input, a constant, a parameter nor computed by "
                "an earlier node: list every free input in `inputs`"
            )
        self._names[var] = name
        return name

    def add_parameter(self, var, param: SharedVariable) -> None:
        """Make the (cloned) graph variable ``var`` an initializer holding ``param``'s value."""
        if param.name is None:
            raise ValueError(f"shared variable {param!r} has no name: name every parameter")
        name = self.fresh(param.name)
        self.initializers[name] = np.asarray(param.get_value(borrow=True))
        self._names[var] = name

    def const(self, value, hint: str = "const", dtype=None) -> str:
        """Initializer holding ``value`` (deduplicated for small arrays)."""
        arr = np.asarray(value, dtype=dtype)
        key = None
        if arr.size <= 64:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._const_cache:
                return self._const_cache[key]
        name = self.fresh(hint)
        self.initializers[name] = arr
        if key is not None:
            self._const_cache[key] = name
        return name

    def input_as(self, var, dtype) -> str:
        """ONNX name of ``var`` converted to ``dtype`` (constants are cast at export time)."""
        dtype = np.dtype(dtype)
        static = self.static_value(var)
        if static is not None:
            return self.const(static.astype(dtype), var.name or "const")
        name = self.name(var)
        if np.dtype(var.type.dtype) == dtype:
            return name
        return self.node("Cast", [name], hint=f"{name}_as_{dtype.name}", to=onnx_dtype(dtype))[0]

    # ---- nodes -----------------------------------------------------------------------
    def node(self, op_type: str, inputs: list[str], n_outputs: int = 1, hint: str | None = None, **attrs):
        """Append an ONNX node; returns the names of its outputs."""
        hint = hint or op_type
        outputs = [self.fresh(hint if n_outputs == 1 else f"{hint}_{i}") for i in range(n_outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(f"n_{op_type}"), **attrs))
        return outputs

    def axes_input_or_attr(self, op_type: str, data: str, axes, hint=None, **attrs):
        """A Reduce* node; ``axes`` is an input from opset 18 on, an attribute before."""
        if axes is None or op_type == "ReduceSum" or self.opset >= 18:
            inputs = [data] if axes is None else [data, self.const(np.asarray(axes, "int64"), "axes")]
            return self.node(op_type, inputs, hint=hint, **attrs)[0]
        return self.node(op_type, [data], hint=hint, axes=list(axes), **attrs)[0]

    # ---- constant folding on the PyTensor side ----------------------------------------
    def try_fold(self, node) -> bool:
        """Evaluate ``node`` now when all its inputs are known; True when it was folded."""
        if isinstance(node.op, Shape):
            shape = node.inputs[0].type.shape
            if all(s is not None for s in shape):
                self._static[node.outputs[0]] = np.asarray(shape, dtype="int64")
                return True
            return False
        values = [self.static_value(v) for v in node.inputs]
        if any(v is None for v in values) or not node.inputs:
            return False
        storage = [[None] for _ in node.outputs]
        try:
            node.op.perform(node, values, storage)
        except Exception:  # an Op without a usable perform is simply emitted
            return False
        for out, (val,) in zip(node.outputs, storage):
            self._static[out] = np.asarray(val, dtype=out.type.dtype)
        return True


def _value_info(name: str, var, dynamic_axes: dict[int, str]):
    shape = [dynamic_axes.get(i, s) for i, s in enumerate(var.type.shape)]
    return helper.make_tensor_value_info(name, onnx_dtype(var.type.dtype), shape)


def graph_to_onnx(
    inputs,
    outputs,
    input_names=None,
    output_names=None,
    dynamic_axes: dict[str, dict[int, str]] | None = None,
    opset: int = 18,
    graph_name: str = "pytensor_graph",
) -> onnx.ModelProto:
    """Convert the PyTensor graph ``inputs -> outputs`` into an (unoptimised) ONNX model.

    ``dynamic_axes`` maps a value name to ``{axis: symbolic_name}``, e.g.
    ``{"images": {0: "batch"}}``; all other axes keep the variables' static shapes (None is
    written as a symbolic dimension). Parameters (shared variables) become initializers.
    """
    inputs, outputs = list(inputs), list(outputs)
    input_names = list(input_names or [v.name or f"input{i}" for i, v in enumerate(inputs)])
    output_names = list(output_names or [v.name or f"output{i}" for i, v in enumerate(outputs)])
    if len(input_names) != len(inputs) or len(output_names) != len(outputs):
        raise ValueError("input_names/output_names must have one entry per input/output")
    dynamic_axes = dynamic_axes or {}

    params = [v for v in graph_inputs(outputs) if isinstance(v, SharedVariable) and v not in inputs]
    fg = FunctionGraph(inputs=inputs + params, outputs=outputs, clone=True)
    b = OnnxGraphBuilder(opset)
    for var, name in zip(fg.inputs, input_names):
        b._used.add(name)
        b.bind(var, name)
    for clone, param in zip(fg.inputs[len(inputs):], params):
        b.add_parameter(clone, param)
    for name in output_names:
        b._used.add(name)

    for position, node in enumerate(fg.toposort()):
        b.position = position
        if b.try_fold(node):
            continue
        names = onnx_converter(node.op, node, b)
        if len(names) != len(node.outputs):
            raise RuntimeError(f"converter for {node.op} returned {len(names)} names for {len(node.outputs)} outputs")
        for var, name in zip(node.outputs, names):
            b.bind(var, name)
    b.position = None

    graph_outputs = []
    for var, name in zip(fg.outputs, output_names):
        src = b.input_as(var, var.type.dtype)
        b.nodes.append(helper.make_node("Identity", [src], [name], name=b.fresh("n_output")))
        graph_outputs.append(_value_info(name, var, dynamic_axes.get(name, {})))

    graph = helper.make_graph(
        b.nodes,
        graph_name,
        [_value_info(n, v, dynamic_axes.get(n, {})) for v, n in zip(fg.inputs, input_names)],
        graph_outputs,
        initializer=[numpy_helper.from_array(v, k) for k, v in b.initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="yolo_lib.export")
    model.ir_version = min(model.ir_version, 10)  # readable by onnxruntime >= 1.20
    return model
