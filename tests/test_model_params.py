"""YOLO11 architecture without compiling: parameter counts, names, shapes, initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
import pytest

from yolo_lib.model import build_yolo11

# Ultralytics 8.4.190 totals (shared/reference/yolo11n.md), incl. the 16 frozen DFL weights.
TOTALS = {
    ("n", 2): 2_590_230, ("n", 80): 2_624_080,
    ("s", 2): 9_428_566, ("s", 80): 9_458_752,
    ("m", 2): 20_054_550, ("m", 80): 20_114_688,
    ("l", 2): 25_312_022, ("l", 80): 25_372_160,
    ("x", 2): 56_876_086, ("x", 80): 56_966_176,
}
# Per-layer parameters and output shapes of YOLO11n, nc=2, input 320x320.
N_LAYERS = [
    (464, "16x160x160"), (4672, "32x80x80"), (6640, "64x80x80"), (36992, "64x40x40"),
    (26080, "128x40x40"), (147712, "128x20x20"), (87040, "128x20x20"), (295424, "256x10x10"),
    (346112, "256x10x10"), (164608, "256x10x10"), (249728, "256x10x10"), (0, "256x20x20"),
    (0, "384x20x20"), (111296, "128x20x20"), (0, "128x40x40"), (0, "256x40x40"),
    (32096, "64x40x40"), (36992, "64x20x20"), (0, "192x20x20"), (86720, "128x20x20"),
    (147712, "128x10x10"), (0, "384x10x10"), (378880, "256x10x10"), (431062, "2100 anchors"),
]


@pytest.fixture(scope="module")
def yolo_n():
    return build_yolo11("n", nc=2, seed=0)


@pytest.mark.parametrize("scale,nc", sorted(TOTALS))
def test_parameter_count_matches_ultralytics(scale, nc):
    assert build_yolo11(scale, nc, init=False).num_parameters() == TOTALS[scale, nc]


def test_layer_table_matches_ultralytics(yolo_n):
    rows = yolo_n.layer_table(320, 320)
    assert [(r["params"], r["shape"]) for r in rows] == N_LAYERS
    assert rows[12]["src"] == (-1, 6) and rows[23]["src"] == (16, 19, 22)


def test_any_multiple_of_32_and_any_batch(yolo_n):
    rows = yolo_n.layer_table(256, 416, batch=3)
    assert rows[0]["shape"] == "16x128x208"
    assert rows[22]["shape"] == "256x8x13"
    assert rows[23]["shape"] == f"{32 * 52 + 16 * 26 + 8 * 13} anchors"


def test_names_and_shapes_match_the_reference_state_dict(yolo_n, reference):
    sd = {k[len("state_dict/"):]: v for k, v in reference.items() if k.startswith("state_dict/")}
    ours = {**yolo_n.params, **yolo_n.buffers}
    assert set(sd) - set(ours) == {"model.23.dfl.conv.weight"}
    assert set(ours) <= set(sd)
    for name, var in ours.items():
        assert var.type.shape == sd[name].shape, name
    assert set(yolo_n.params) == {k[len("grad/"):] for k in reference if k.startswith("grad/")}


def test_params_and_buffers_are_separate_static_float32(yolo_n):
    assert len(yolo_n.params) == 255 and len(yolo_n.buffers) == 162
    assert not set(yolo_n.params) & set(yolo_n.buffers)
    assert all(n.endswith(("running_mean", "running_var")) for n in yolo_n.buffers)
    for name, var in {**yolo_n.params, **yolo_n.buffers}.items():
        assert var.name == name
        assert var.type.dtype == "float32" and None not in var.type.shape


def test_ultralytics_initialisation(yolo_n):
    p, b = yolo_n.params, yolo_n.buffers
    for i, s in enumerate((8, 16, 32)):
        np.testing.assert_array_equal(p[f"model.23.cv2.{i}.2.bias"].get_value(), 2.0)
        cls_bias = p[f"model.23.cv3.{i}.2.bias"].get_value()
        np.testing.assert_allclose(cls_bias, math.log(5 / 2 / (640 / s) ** 2), rtol=1e-6)
    np.testing.assert_array_equal(p["model.0.bn.weight"].get_value(), 1.0)
    np.testing.assert_array_equal(p["model.0.bn.bias"].get_value(), 0.0)
    np.testing.assert_array_equal(b["model.0.bn.running_mean"].get_value(), 0.0)
    np.testing.assert_array_equal(b["model.0.bn.running_var"].get_value(), 1.0)
    w = p["model.1.conv.weight"].get_value()  # fan_in 16*3*3: U(-1/12, 1/12)
    assert 0.07 < np.abs(w).max() <= 1 / 12 and abs(w.mean()) < 5e-3
    pe = p["model.10.m.0.attn.pe.conv.weight"].get_value()  # depthwise: fan_in 9
    assert pe.shape == (128, 1, 3, 3) and np.abs(pe).max() <= 1 / 3


def test_seed_is_reproducible():
    a = build_yolo11("n", 2, seed=3).params["model.5.conv.weight"].get_value()
    b = build_yolo11("n", 2, seed=3).params["model.5.conv.weight"].get_value()
    c = build_yolo11("n", 2, seed=4).params["model.5.conv.weight"].get_value()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs,message", [
    (dict(scale="q"), "scale must be one of"),
    (dict(nc=0), "positive int"),
    (dict(nc=2.5), "positive int"),
])
def test_bad_build_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_yolo11(**{"scale": "n", "nc": 2, "init": False, **kwargs})


@pytest.mark.parametrize("shape,dtype,message", [
    ((1, 3, 320, 300), "float32", "width 300 is not a multiple of 32"),
    ((1, 4, 320, 320), "float32", "3 channels"),
    ((1, 3, 320, 320), "float64", "float32"),
])
def test_bad_images(yolo_n, shape, dtype, message):
    with pytest.raises((ValueError, TypeError), match=message):
        yolo_n.forward(pt.tensor4("x", dtype=dtype, shape=shape))


def test_train_forward_returns_running_stat_updates(yolo_n):
    x = pt.tensor4("x", dtype="float32", shape=(2, 3, 64, 64))
    train, evalm = yolo_n.forward(x, train=True), yolo_n.forward(x, train=False)
    assert len(train.updates) == 162 and evalm.updates == []
    assert {v.name for v, _ in train.updates} == set(yolo_n.buffers)
    assert [b.type.shape for b in train.box] == [(2, 64, 8, 8), (2, 64, 4, 4), (2, 64, 2, 2)]
    assert [c.type.shape for c in train.cls] == [(2, 2, 8, 8), (2, 2, 4, 4), (2, 2, 2, 2)]
    assert evalm.decoded().type.shape == (2, 6, 84)


def test_sequential_has_length_iteration_and_indexing():
    from yolo_lib.nn.module import Sequential

    model = build_yolo11("n", nc=2, init=False)
    layers = model.model
    assert len(layers) == 24 and [type(m).__name__ for m in layers][-1] == "Detect"
    assert layers[0] is next(iter(layers)) and layers[-1] is model.detect and layers[23] is model.detect
    assert [m for _, m in layers.children()] == list(layers)
    for bad in (24, -25, "0", 1.0):
        with pytest.raises(IndexError, match="Sequential of 24 modules has no index"):
            layers[bad]
    assert len(Sequential()) == 0 and list(Sequential()) == []
