"""ONNX graph passes run after conversion: fold constants and static shapes, fold
BatchNormalization into the preceding Conv, drop Identity nodes and dead code.

All passes work on a :class:`GraphState` (nodes + numpy initializers) and keep the graph's
inputs and outputs unchanged. :func:`optimize` runs them to a fixed point.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

# Folding these would only trade a node for a large initializer, or is not deterministic.
_NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}
_MAX_FOLDED_SIZE = 1 << 22  # elements; larger constant results stay computed at run time


class GraphState:
    """Mutable view of a ModelProto's graph: node list and initializers as numpy arrays."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        self.nodes = list(model.graph.node)
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.graph_inputs = {v.name for v in model.graph.input}
        self.graph_outputs = [v.name for v in model.graph.output]

    def producers(self) -> dict[str, onnx.NodeProto]:
        return {o: n for n in self.nodes for o in n.output}

    def consumers(self) -> dict[str, list[onnx.NodeProto]]:
        out: dict[str, list] = {}
        for n in self.nodes:
            for i in n.input:
                out.setdefault(i, []).append(n)
        return out

    def to_model(self) -> onnx.ModelProto:
        graph = self.model.graph
        del graph.node[:]
        graph.node.extend(self.nodes)
        used = {i for n in self.nodes for i in n.input} | set(self.graph_outputs)
        del graph.initializer[:]
        graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in self.inits.items() if k in used)
        del graph.value_info[:]
        return self.model


def _run_node(node: onnx.NodeProto, values: list, opset: int) -> list[np.ndarray]:
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in zip(node.input, values) if n]
    outputs = [helper.make_tensor_value_info(o, 0, None) for o in node.output]
    model = helper.make_model(helper.make_graph([node], "fold", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: v for n, v in zip(node.input, values) if n}
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


def _static_dims(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    """Inferred shape of every value: a list with None for symbolic dims."""
    inferred = shape_inference.infer_shapes(model)
    dims = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return dims


class _Partial:
    """A small integer/float vector (or scalar) some of whose entries are unknown (None)."""

    def __init__(self, values: list, dtype="int64", scalar: bool = False):
        self.values, self.dtype, self.scalar = list(values), np.dtype(dtype), scalar

    def complete(self) -> np.ndarray | None:
        if any(v is None for v in self.values):
            return None
        arr = np.asarray(self.values, dtype=self.dtype)
        return arr.reshape(()) if self.scalar else arr


def _partial_shape_value(node, known: dict, dims: dict, st: GraphState) -> _Partial | None:
    """Shape-vector arithmetic with unknown entries (e.g. the dynamic batch), or None."""

    def attr(name, default):
        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    if node.op_type == "Shape":
        vec = dims.get(node.input[0])
        return None if vec is None else _Partial(vec[attr("start", 0):attr("end", None)])
    src = known.get(node.input[0]) if node.input else None
    consts = [st.inits.get(i) for i in node.input[1:] if i]
    if src is None or any(c is None for c in consts):
        return None
    vec = src.values
    if node.op_type == "Cast":
        return _Partial(vec, helper.tensor_dtype_to_np_dtype(attr("to", 7)), src.scalar)
    if node.op_type == "Identity":
        return src
    if node.op_type == "Slice" and not src.scalar:
        starts, ends = int(consts[0][0]), int(min(consts[1][0], len(vec)))
        step = int(consts[3][0]) if len(consts) > 3 else 1
        return _Partial(vec[starts:ends:step], src.dtype)
    if node.op_type == "Gather" and attr("axis", 0) == 0 and not src.scalar:
        idx = np.asarray(consts[0])
        return _Partial([vec[int(i)] for i in idx.reshape(-1)], src.dtype, idx.ndim == 0)
    if node.op_type == "Squeeze" and len(vec) == 1:
        return _Partial(vec, src.dtype, True)
    if node.op_type == "Unsqueeze" and src.scalar:
        return _Partial(vec, src.dtype, False)
    return None


def fold_constants(st: GraphState) -> int:
    """Evaluate nodes whose inputs are all initializers (and static shape arithmetic); count folded."""
    dims = _static_dims(st.to_model())
    known: dict[str, _Partial] = {}
    folded, kept = 0, []
    for node in st.nodes:
        values = None
        if node.op_type not in _NEVER_FOLD and all((not i) or i in st.inits for i in node.input) and node.input:
            values = _run_node(node, [st.inits[i] for i in node.input if i], st.opset)
        elif len(node.output) == 1:
            partial = _partial_shape_value(node, known, dims, st)
            if partial is not None:
                full = partial.complete()
                if full is not None:
                    values = [full]
                else:
                    known[node.output[0]] = partial
        if values is not None and sum(v.size for v in values) <= _MAX_FOLDED_SIZE:
            for name, value in zip(node.output, values):
                st.inits[name] = value
            folded += 1
        else:
            kept.append(node)
    st.nodes = kept
    return folded


def fold_batchnorm(st: GraphState) -> int:
    """Conv(W[, B]) -> BatchNormalization(scale, bias, mean, var) becomes one Conv(W', B')."""
    producers, consumers = st.producers(), st.consumers()
    removed, count = set(), 0
    for bn in st.nodes:
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1:
            continue
        conv = producers.get(bn.input[0])
        params = bn.input[1:5]
        if (conv is None or conv.op_type != "Conv" or len(consumers.get(conv.output[0], [])) != 1
                or conv.output[0] in st.graph_outputs or any(p not in st.inits for p in params)
                or any(i not in st.inits for i in conv.input[1:])):
            continue
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (st.inits[p].astype("float64") for p in params)
        w = st.inits[conv.input[1]]
        bias = st.inits[conv.input[2]].astype("float64") if len(conv.input) > 2 and conv.input[2] else 0.0
        scale = gamma / np.sqrt(var + eps)
        w_name, b_name = f"{conv.input[1]}.bn_folded", f"{conv.input[1]}.bn_folded_bias"
        st.inits[w_name] = (w.astype("float64") * scale[:, None, None, None]).astype(w.dtype)
        st.inits[b_name] = ((bias - mean) * scale + beta).astype(w.dtype)
        del conv.input[1:]
        conv.input.extend([w_name, b_name])
        conv.output[0] = bn.output[0]
        removed.add(id(bn))
        count += 1
    st.nodes = [n for n in st.nodes if id(n) not in removed]
    return count


def remove_identities(st: GraphState) -> int:
    """Drop Identity nodes: consumers read the source; a graph output renames its producer."""
    count = 0
    for node in list(st.nodes):
        if node.op_type != "Identity":
            continue
        src, dst = node.input[0], node.output[0]
        producers = st.producers()
        if dst in st.graph_outputs:
            prod = producers.get(src)
            if prod is None or src in st.graph_outputs:
                continue  # output is an input/initializer or another output: keep the Identity
            prod.output[list(prod.output).index(src)] = dst
            old, new = src, dst
        else:
            old, new = dst, src
        st.nodes.remove(node)
        for n in st.nodes:
            for k, name in enumerate(n.input):
                if name == old:
                    n.input[k] = new
        count += 1
    return count


def remove_dead_nodes(st: GraphState) -> int:
    """Drop nodes none of whose outputs reach a graph output."""
    needed = set(st.graph_outputs)
    keep = []
    for node in reversed(st.nodes):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    removed = len(st.nodes) - len(keep)
    st.nodes = keep[::-1]
    return removed


def optimize(model: onnx.ModelProto, max_rounds: int = 10) -> onnx.ModelProto:
    """Run all passes until nothing changes; returns the (same, modified) model."""
    st = GraphState(model)
    for _ in range(max_rounds):
        changed = (remove_identities(st) + remove_dead_nodes(st) + fold_constants(st)
                   + fold_batchnorm(st) + remove_dead_nodes(st))
        if not changed:
            break
    return st.to_model()
