"""Per-layer parity with Ultralytics (eval and train mode), BN statistics, decoding, the parity
command. Compiled functions are cached on the module-scoped model and reused by every test."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from yolo_lib import parity
from yolo_lib.compilation.functions import eval_function
from yolo_lib.model import build_yolo11
from yolo_lib.geometry import make_anchors


@pytest.fixture(scope="module")
def case(reference):
    case = parity.ParityCase(reference)
    assert case.model is not None, case.import_error
    return case


def _failures(checks):
    return [c for c in checks if not c.ok]


def test_eval_mode_every_layer_head_and_decoded_output(case):
    checks = parity.eval_checks(case)
    names = {c.name for c in checks}
    assert {f"eval/layer{i:02d}" for i in range(23)} <= names
    assert {"eval/box_raw_P3", "eval/cls_raw_P5", "eval/inference_out/boxes_px", "eval/inference_out/scores"} <= names
    assert _failures(checks) == []


def test_train_mode_layers_and_bn_running_stats(case):
    checks = parity.train_checks(case)
    assert sum(c.name.startswith("train/bn_after_forward/") for c in checks) == 162
    assert sum(c.name.startswith("train/layer") for c in checks) == 23
    assert _failures(checks) == []
    # the train forward must not have changed the model's own buffers
    np.testing.assert_array_equal(case.model.buffers["model.0.bn.running_var"].get_value(),
                                  case.state_dict["model.0.bn.running_var"])


def test_wrong_weights_fail(case):
    var = case.model.params["model.19.m.0.cv2.conv.weight"]
    original = var.get_value().copy()
    try:
        var.set_value(original * np.float32(1.01))
        case.reset_outputs()
        failing = {c.name for c in _failures(parity.eval_checks(case))}
    finally:
        var.set_value(original)
        case.reset_outputs()
    # a 1% change of one conv deep in the neck shows up exactly where it enters the graph
    assert "eval/layer19" in failing and "eval/layer16" not in failing


def test_decoded_output_is_dfl_of_raw_outputs_at_another_size():
    """Non-square 64x96 image, batch 1: decode vs a numpy reimplementation of Ultralytics'."""
    model = build_yolo11("n", nc=3, seed=1)
    out = eval_function(model, 1, 64, 96, outputs="all")(
        np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32))
    box = np.concatenate([out[f"box_raw_P{i}"].reshape(1, 64, -1) for i in (3, 4, 5)], axis=2)
    cls = np.concatenate([out[f"cls_raw_P{i}"].reshape(1, 3, -1) for i in (3, 4, 5)], axis=2)
    anchors, stride = make_anchors((64, 96))
    stride = stride[:, 0]
    p = np.exp(box.reshape(1, 4, 16, -1) - box.reshape(1, 4, 16, -1).max(axis=2, keepdims=True))
    dist = (p / p.sum(axis=2, keepdims=True) * np.arange(16)[None, None, :, None]).sum(axis=2)
    x1y1, x2y2 = anchors.T[None] - dist[:, :2], anchors.T[None] + dist[:, 2:]
    xywh = np.concatenate([(x1y1 + x2y2) / 2, x2y2 - x1y1], axis=1) * stride
    got = np.asarray(out["inference_out"])
    assert got.shape == (1, 7, 126)
    np.testing.assert_allclose(got[:, :4], xywh, atol=2e-3)
    np.testing.assert_allclose(got[:, 4:], 1 / (1 + np.exp(-cls)), atol=1e-6)
    assert anchors[0].tolist() == [0.5, 0.5] and anchors[1].tolist() == [1.5, 0.5]  # x inner


def test_compiled_function_rejects_other_shapes():
    model = build_yolo11("n", nc=2, init=False)
    fn = eval_function(model, 1, 64, 64)
    assert eval_function(model, 1, 64, 64) is fn  # cached
    with pytest.raises(ValueError, match=r"shape \(1, 3, 64, 64\)"):
        fn(np.zeros((2, 3, 64, 64), np.float32))


def _subset(reference, scale_weights: float = 1.0):
    """Batch-1 eval-only reference (eval mode is per-image, so slicing the batch is exact)."""
    out = {"input/img": reference["input/img"][:1]}
    out.update({k: v for k, v in reference.items() if k.startswith("state_dict/")})
    out.update({k: v[:1] for k, v in reference.items()
                if k.startswith(("eval/layer", "eval/box_raw", "eval/cls_raw", "eval/inference_out"))})
    out["state_dict/model.2.cv1.conv.weight"] = out["state_dict/model.2.cv1.conv.weight"] * np.float32(scale_weights)
    return out


@pytest.mark.parametrize("scale_weights,rc", [(1.0, 0), (1.02, 1)])
def test_parity_command(tmp_path, reference, scale_weights, rc):
    path = tmp_path / "ref.npz"
    np.savez(path, **_subset(reference, scale_weights))
    res = subprocess.run([sys.executable, "-m", "yolo_lib.parity", str(path)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == rc, res.stderr[-2000:]
    report = json.loads(res.stdout)
    assert set(report) == {"checks", "ok"} and report["ok"] is (rc == 0)
    assert all({"name", "metric", "value", "tol", "ok"} <= set(c) for c in report["checks"])
    names = [c["name"] for c in report["checks"]]
    assert sum(n.startswith("eval/") for n in names) == 23 + 6 + 2 and "weights/import" in names


def test_parity_command_reports_unusable_file(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, nothing=np.zeros(1))
    res = subprocess.run([sys.executable, "-m", "yolo_lib.parity", str(path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert report["ok"] is False and "input/img" in report["checks"][0]["note"]


def test_parity_command_passes_on_the_full_fixture(shared):
    """The complete shared fixture through the command line: every registered group, exit 0."""
    path = shared / "fixtures" / "yolo11n_nc2_320.npz"
    res = subprocess.run([sys.executable, "-m", "yolo_lib.parity", str(path)],
                         capture_output=True, text=True, timeout=900)
    report = json.loads(res.stdout)
    bad = [c for c in report["checks"] if not c["ok"]]
    assert res.returncode == 0 and report["ok"], bad[:5]
    names = {c["name"] for c in report["checks"]}
    assert {"eval/layer22", "train/layer22", "eval/inference_out/boxes_px",
            "train/bn_after_forward/model.22.cv1.bn.running_var"} <= names
