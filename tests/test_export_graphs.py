"""The PyTensor -> ONNX exporter on small hand-built graphs, checked against PyTensor itself.

Every case builds a graph, exports it (onnx.checker full check inside), runs it with
onnxruntime and compares with PyTensor's evaluation of the same, un-rewritten graph.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.export import UnsupportedOpError, export_graph
from yolo_lib.ops import batch_norm_eval, batch_norm_train, conv2d, max_pool2d, upsample_nearest

RNG = np.random.default_rng(0)
REFERENCE_MODE = Mode(linker="py", optimizer=None)


def run_both(inputs, outputs, feeds, opset=18, dynamic_axes=None):
    """(onnxruntime outputs, PyTensor outputs, ModelProto) for the same feeds."""
    names = [v.name for v in inputs]
    model = export_graph(inputs, outputs, names, [f"out{i}" for i in range(len(outputs))],
                         dynamic_axes=dynamic_axes, opset=opset)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, dict(zip(names, feeds)))
    want = pytensor.function(inputs, outputs, mode=REFERENCE_MODE)(*feeds)
    return got, [np.asarray(w) for w in want], model


def assert_parity(inputs, outputs, feeds, rtol=1e-5, atol=1e-6, **kw):
    got, want, model = run_both(inputs, outputs, feeds, **kw)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return model


def ops_of(model):
    return [n.op_type for n in model.graph.node]


def test_elementwise_ops_match_pytensor():
    x, y = pt.matrix("x"), pt.matrix("y")
    xv, yv = RNG.normal(size=(3, 5)).astype("float32"), RNG.normal(size=(3, 5)).astype("float32")
    outs = [
        x + y, x - y, x * y, x / (pt.abs(y) + 1), -x, pt.exp(x), pt.log(pt.abs(x) + 1), pt.sigmoid(x),
        pt.sqrt(pt.abs(y)), pt.abs(x) ** 1.5, pt.maximum(x, y), pt.minimum(x, y), pt.tanh(x),
        pt.switch(x > y, x, y), pt.switch(pt.le(x, 0), 0, x), pt.add(x, y, x * 2), pt.mul(x, y, y),
        (x >= 0) & (y < 0), pt.eq(x, x), pt.neq(x, y), x * 3, x + np.float32(0.5), pt.sqr(x),
        pt.cast(x * 4, "int32"), pt.floor(x), pt.log1p(pt.abs(x)), pt.clip(x, -0.5, 0.5), pt.softplus(x),
    ]
    assert_parity([x, y], outs, [xv, yv])


def test_broadcasting_and_mixed_dtypes():
    x = pt.tensor3("x")
    i = pt.vector("i", dtype="int64")
    xv = RNG.normal(size=(2, 3, 4)).astype("float32")
    iv = np.arange(4, dtype="int64")
    assert_parity([x, i], [x * i, x + 1, x[:, :, None, :] * x[:, :, :, None]], [xv, iv])


def test_integer_division_and_fill():
    i = pt.vector("i", dtype="int64")
    x = pt.vector("x")
    iv = np.array([-7, -3, 0, 4, 9], dtype="int64")
    xv = np.array([-2.5, -1.0, 0.0, 1.5, 7.0], dtype="float32")
    assert_parity([i, x], [i // 3, x // 2, pt.fill(x, 3.0), i % 4 + pt.cast(x > 0, "int64"), x % 2], [iv, xv])


def test_layout_ops_match_pytensor():
    x = pt.tensor4("x", shape=(None, 6, 4, 5))
    xv = RNG.normal(size=(2, 6, 4, 5)).astype("float32")
    parts = pt.split(x, [2, 4], n_splits=2, axis=1)
    outs = [
        x.dimshuffle(0, 2, 3, 1), x[:, :1].dimshuffle(0, 2, 3), x.dimshuffle(0, "x", 1, 2, 3),
        x.reshape((x.shape[0], 6, -1)), x.reshape((x.shape[0], x.shape[1] * x.shape[2], x.shape[3])),
        pt.concatenate([x, x * 2], axis=1), parts[0] + 1, parts[1], x[:, -1], x[:, 1:5:2, ::-1, 2],
        x[1], x.flatten(), x.T,
    ]
    assert_parity([x], outs, [xv], dynamic_axes={"x": {0: "batch"}})


def test_reductions_softmax_and_products_match_pytensor():
    x = pt.tensor3("x")
    w = pytensor.shared(RNG.normal(size=(5, 3)).astype("float32"), name="w", shape=(5, 3))
    xv = RNG.normal(size=(2, 4, 5)).astype("float32")
    outs = [
        x.sum(axis=-1), x.max(axis=(0, 2)), x.min(axis=1), x.mean(), x.prod(axis=0), pt.argmax(x, axis=1),
        pt.special.softmax(x, axis=-1), pt.special.softmax(x, axis=1), pt.special.log_softmax(x, axis=2),
        pt.matmul(x, w), pt.matmul(x, x.transpose(0, 2, 1)), pt.dot(x[0], w), pt.all(x > -10, axis=1),
        pt.any(x > 1),
    ]
    assert_parity([x], outs, [xv], rtol=2e-5)


def test_parameters_become_initializers_under_their_names():
    x = pt.matrix("x")
    w = pytensor.shared(RNG.normal(size=(4, 2)).astype("float32"), name="layer.weight", shape=(4, 2))
    model = assert_parity([x], [pt.matmul(x, w) + 1], [RNG.normal(size=(3, 4)).astype("float32")])
    inits = {t.name: t for t in model.graph.initializer}
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(inits["layer.weight"]), w.get_value())


def test_cnn_ops_match_pytensor_and_batchnorm_is_folded():
    x = pt.tensor4("x", shape=(None, 4, 9, 10))
    w1 = pytensor.shared(RNG.normal(size=(8, 4, 3, 3)).astype("float32"), name="w1", shape=(8, 4, 3, 3))
    w2 = pytensor.shared(RNG.normal(size=(8, 2, 3, 3)).astype("float32"), name="w2", shape=(8, 2, 3, 3))
    bn = [pytensor.shared(v.astype("float32"), name=f"bn{i}", shape=v.shape) for i, v in enumerate(
        (RNG.uniform(0.5, 2, 8), RNG.normal(size=8), RNG.normal(size=8), RNG.uniform(0.5, 2, 8)))]
    y = conv2d(x, w1, stride=2, padding=((1, 0), (1, 2)))
    y = batch_norm_eval(y, *bn, eps=1e-3)
    y = y * pt.sigmoid(y)
    z = conv2d(y, w2, padding=2, dilation=2, groups=4)
    outs = [y, max_pool2d(z, 3, stride=1, padding=1), upsample_nearest(z, 2), max_pool2d(z, 2)]
    xv = RNG.normal(size=(2, 4, 9, 10)).astype("float32")
    model = assert_parity([x], outs, [xv], rtol=1e-4, atol=1e-4, dynamic_axes={"x": {0: "batch"}})
    assert "BatchNormalization" not in ops_of(model)
    assert ops_of(model).count("Conv") == 2


def test_unsupported_op_names_the_op_and_its_place():
    x = pt.matrix("x")
    with pytest.raises(UnsupportedOpError, match=r"SortOp.*node #\d+.*inputs \[output of Exp: float32"):
        export_graph([x], [pt.sort(pt.exp(x), axis=-1)], ["x"], ["y"])


def test_training_graph_is_refused_clearly():
    x = pt.tensor4("x", shape=(None, 2, 3, 3))
    g, b = (pytensor.shared(np.ones(2, "float32"), name=n, shape=(2,)) for n in ("g", "b"))
    with pytest.raises(UnsupportedOpError, match="BatchNormTrain"):
        export_graph([x], [batch_norm_train(x, g, b)[0]], ["x"], ["y"])


def test_opset_17_and_bad_opset():
    x = pt.tensor3("x")
    xv = RNG.normal(size=(2, 3, 4)).astype("float32")
    model = assert_parity([x], [x.max(axis=1), x.sum(axis=2)], [xv], opset=17)
    assert model.opset_import[0].version == 17
    with pytest.raises(ValueError, match="opset"):
        export_graph([x], [x + 1], ["x"], ["y"], opset=12)


def test_dynamic_batch_axis():
    x = pt.tensor3("x", shape=(None, 3, 4))
    model = export_graph([x], [x.reshape((x.shape[0], -1)).sum(axis=1)], ["x"], ["y"],
                         dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        xv = RNG.normal(size=(batch, 3, 4)).astype("float32")
        np.testing.assert_allclose(sess.run(None, {"x": xv})[0], xv.reshape(batch, -1).sum(1), rtol=1e-5)


def test_static_shape_arithmetic_is_folded():
    """x.shape-based reshapes of a static-shape tensor cost no Shape/Gather/Concat node."""
    x = pt.tensor4("x", shape=(None, 2, 4, 4))
    y = pt.sigmoid(x)
    out = y.reshape((y.shape[0], y.shape[1], y.shape[2] * y.shape[3]))
    model = assert_parity([x], [out], [RNG.normal(size=(3, 2, 4, 4)).astype("float32")],
                          dynamic_axes={"x": {0: "batch"}})
    assert sorted(ops_of(model)) == ["Reshape", "Sigmoid"]


def test_tensors_built_from_runtime_shapes():
    x = pt.matrix("x")
    xv = RNG.normal(size=(4, 3)).astype("float32")
    outs = [pt.arange(x.shape[0], dtype="float32") + 0.5, pt.alloc(np.float32(2), x.shape[0], 3) * x]
    assert_parity([x], outs, [xv], dynamic_axes={"x": {0: "n"}})
