"""ONNX graph passes run after conversion: fold constants and static shapes (Reshape targets
built from runtime shapes become constants with 0 = "copy this dim"), fold BatchNormalization
and per-channel bias Adds into the preceding Conv, merge Slices that tile an axis into one
Split, drop Identity nodes and dead code.

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


def _inferred_dims(model: onnx.ModelProto) -> dict[str, list]:
    """Inferred shape of every value: ints, symbolic names (str, e.g. "batch") or None."""
    inferred = shape_inference.infer_shapes(model)
    dims = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            dims[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                             for d in t.shape.dim]
    return dims


class _Partial:
    """A small shape vector (or scalar) whose entries are ints, symbolic dims (str) or None."""

    def __init__(self, values: list, dtype="int64", scalar: bool = False):
        self.values, self.dtype, self.scalar = list(values), np.dtype(dtype), scalar

    def complete(self) -> np.ndarray | None:
        if not all(isinstance(v, (int, np.integer)) for v in self.values):
            return None
        arr = np.asarray(self.values, dtype=self.dtype)
        return arr.reshape(()) if self.scalar else arr


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _partial_shape(node, known, dims, st):
    vec = dims.get(node.input[0])
    return None if vec is None else _Partial(vec[_attr(node, "start", 0):_attr(node, "end", None)])


def _partial_concat(node, known, dims, st):
    parts = []
    for name in node.input:
        if name in known and not known[name].scalar:
            parts.append(known[name])
        elif name in st.inits and st.inits[name].ndim == 1:
            parts.append(_Partial([int(v) for v in st.inits[name]], st.inits[name].dtype))
        else:
            return None
    return _Partial([v for p in parts for v in p.values], parts[0].dtype)


def _partial_cast(node, src, consts):
    return _Partial(src.values, helper.tensor_dtype_to_np_dtype(_attr(node, "to", 7)), src.scalar)


def _partial_slice(node, src, consts):
    if src.scalar:
        return None
    vec = src.values
    starts, ends = int(consts[0][0]), int(min(consts[1][0], len(vec)))
    step = int(consts[3][0]) if len(consts) > 3 else 1
    return _Partial(vec[starts:ends:step], src.dtype)


def _partial_gather(node, src, consts):
    if _attr(node, "axis", 0) != 0 or src.scalar:
        return None
    idx = np.asarray(consts[0])
    return _Partial([src.values[int(i)] for i in idx.reshape(-1)], src.dtype, idx.ndim == 0)


def _partial_squeeze(node, src, consts):
    return _Partial(src.values, src.dtype, True) if len(src.values) == 1 else None


def _partial_unsqueeze(node, src, consts):
    return _Partial(src.values, src.dtype, False) if src.scalar else None


#: Rules producing a partial value from the node's inputs, by ONNX op type.
_SOURCE_RULES = {"Shape": _partial_shape, "Concat": _partial_concat}
#: Rules for ops that transform one partial input (other inputs constant).
_UNARY_RULES = {"Cast": _partial_cast, "Identity": lambda node, src, consts: src, "Slice": _partial_slice,
                "Gather": _partial_gather, "Squeeze": _partial_squeeze, "Unsqueeze": _partial_unsqueeze}


def _partial_value(node, known: dict, dims: dict, st: GraphState) -> _Partial | None:
    """Shape-vector arithmetic with unknown entries (e.g. the dynamic batch), or None."""
    if node.op_type in _SOURCE_RULES:
        return _SOURCE_RULES[node.op_type](node, known, dims, st)
    rule = _UNARY_RULES.get(node.op_type)
    src = known.get(node.input[0]) if node.input else None
    consts = [st.inits.get(i) for i in node.input[1:] if i]
    if rule is None or src is None or any(c is None for c in consts):
        return None
    return rule(node, src, consts)


def _static_reshape_target(partial: _Partial, data_dims: list | None) -> np.ndarray | None:
    """A Reshape target with unknown entries as a constant: ONNX 0 copies the input's dim i
    (when it is the same symbolic dim), -1 infers the one remaining entry."""
    if data_dims is None or any(isinstance(v, (int, np.integer)) and v == 0 for v in partial.values):
        return None
    out, unresolved = [], 0
    for i, v in enumerate(partial.values):
        if isinstance(v, (int, np.integer)):
            out.append(int(v))
        elif isinstance(v, str) and i < len(data_dims) and data_dims[i] == v:
            out.append(0)
        else:
            out.append(-1)
            unresolved += 1
    if unresolved > 1 or (unresolved == 1 and sum(1 for v in out if v == -1) > 1):
        return None
    return np.asarray(out, dtype="int64")


def fold_constants(st: GraphState) -> int:
    """Evaluate nodes whose inputs are all initializers, fold static shape arithmetic and turn
    Reshape targets built from runtime shapes into constants; returns the number of changes."""
    dims = _inferred_dims(st.to_model())
    known: dict[str, _Partial] = {}
    folded, kept = 0, []
    for node in st.nodes:
        values = None
        if node.op_type not in _NEVER_FOLD and all((not i) or i in st.inits for i in node.input) and node.input:
            values = _run_node(node, [st.inits[i] for i in node.input if i], st.opset)
        elif node.op_type == "Reshape" and node.input[1] in known:
            target = _static_reshape_target(known[node.input[1]], dims.get(node.input[0]))
            if target is not None:
                name = f"{node.output[0]}_target"
                st.inits[name] = target
                node.input[1] = name
                folded += 1
        elif len(node.output) == 1:
            partial = _partial_value(node, known, dims, st)
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


def fuse_conv_bias_add(st: GraphState) -> int:
    """Conv(x, W[, B]) + C with a per-output-channel constant C becomes Conv(x, W, B + C)."""
    producers, consumers = st.producers(), st.consumers()
    removed, count = set(), 0
    for add in st.nodes:
        if add.op_type != "Add":
            continue
        for conv_in, const_in in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
            conv = producers.get(conv_in)
            if (conv is None or conv.op_type != "Conv" or const_in not in st.inits
                    or len(consumers.get(conv_in, [])) != 1 or conv_in in st.graph_outputs
                    or any(i not in st.inits for i in conv.input[1:] if i)):
                continue
            w = st.inits[conv.input[1]]
            c = st.inits[const_in]
            out_ch = w.shape[0]
            if c.size != out_ch or c.ndim > 4 or (c.ndim >= 3 and c.shape[-3] != out_ch) or c.ndim < 3:
                continue  # only (O,1,1) / (1,O,1,1) channel biases
            bias = st.inits[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else np.zeros(out_ch, w.dtype)
            _, name = _folded_names(st, conv.input[1], consumers)
            st.inits[name] = (bias + c.reshape(-1)).astype(w.dtype)
            del conv.input[2:]
            conv.input.append(name)
            conv.output[0] = add.output[0]
            removed.add(id(add))
            count += 1
            break
    st.nodes = [n for n in st.nodes if id(n) not in removed]
    return count


def slices_to_split(st: GraphState) -> int:
    """Several single-axis, step-1 Slices of one tensor that tile an axis become one Split."""
    dims = _inferred_dims(st.to_model())
    groups: dict[tuple, list] = {}
    for node in st.nodes:
        if node.op_type != "Slice" or len(node.input) < 4 or any(i not in st.inits for i in node.input[1:] if i):
            continue
        starts, ends, axes = (st.inits[i].reshape(-1) for i in node.input[1:4])
        steps = st.inits[node.input[4]].reshape(-1) if len(node.input) > 4 and node.input[4] else [1]
        if len(axes) != 1 or int(steps[0]) != 1:
            continue
        shape = dims.get(node.input[0])
        axis = int(axes[0]) % len(shape) if shape else None
        if shape is None or not isinstance(shape[axis], (int, np.integer)):
            continue
        size = int(shape[axis])
        start, end = (int(np.clip(v + size if v < 0 else v, 0, size)) for v in (starts[0], ends[0]))
        if end > start:
            groups.setdefault((node.input[0], axis, size), []).append((start, end, node))
    count = 0
    for (data, axis, size), parts in groups.items():
        parts.sort(key=lambda p: (p[0], p[1]))
        if len(parts) < 2 or any(a[1] > b[0] for a, b in zip(parts, parts[1:])) or len({p[:2] for p in parts}) != len(parts):
            continue
        sizes, outputs, pos = [], [], 0
        for start, end, node in parts:
            if start > pos:  # a gap nobody reads: an unused output
                sizes.append(start - pos)
                outputs.append(f"{node.output[0]}_gap")
            sizes.append(end - start)
            outputs.append(node.output[0])
            pos = end
        if pos < size:
            sizes.append(size - pos)
            outputs.append(f"{parts[-1][2].output[0]}_rest")
        split_name = f"{parts[0][2].output[0]}_split_sizes"
        st.inits[split_name] = np.asarray(sizes, dtype="int64")
        split = helper.make_node("Split", [data, split_name], outputs, name=f"{parts[0][2].name}_split", axis=axis)
        drop = {id(p[2]) for p in parts}
        first = min(i for i, n in enumerate(st.nodes) if id(n) in drop)
        st.nodes = [n for n in st.nodes[:first] if id(n) not in drop] + [split] + \
                   [n for n in st.nodes[first:] if id(n) not in drop]
        count += len(parts) - 1
    return count


def _folded_names(st: GraphState, weight: str, consumers: dict) -> tuple[str, str]:
    """Names for a Conv's rewritten weight and bias: the parameter's own name when this Conv is
    its only reader (``model.0.conv.weight`` / ``model.0.conv.bias``, as Ultralytics' export)."""
    sole = len(consumers.get(weight, [])) == 1 and weight not in st.graph_inputs
    w_name = weight if sole else f"{weight}.folded"
    stem = w_name[: -len(".weight")] if w_name.endswith(".weight") else w_name
    b_name = f"{stem}.bias"
    while b_name in st.inits and consumers.get(b_name):  # an unread initializer may be replaced
        b_name += "_"
    return w_name, b_name


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
        w_name, b_name = _folded_names(st, conv.input[1], consumers)
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
                   + remove_dead_nodes(st) + fold_batchnorm(st) + fuse_conv_bias_add(st) + slices_to_split(st))
        if not changed:
            break
    return st.to_model()
