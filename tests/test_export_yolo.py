"""The exported YOLO11n: checker, node budget, parity with PyTensor and with Ultralytics' fixture,
dynamic batch, opset 17, metadata and the ``python -m yolo_lib.export`` command."""

from __future__ import annotations

import ast
import json
import re

import numpy as np
import onnx
import pytest

import yolo_lib  # noqa: F401
from yolo_lib.export.__main__ import main as export_main
from yolo_lib.export.report import (
    BOX_TOL_PX, SCORE_TOL, onnx_output, op_histogram, parity_vs_pytensor, parity_vs_reference,
)
from yolo_lib.export.yolo import export_yolo
from yolo_lib.model import build_yolo11
from yolo_lib.weights import model_from_state_dict

ULTRALYTICS_ONNX = "ultralytics_yolo11n_nc2_320.onnx"


@pytest.fixture(scope="module")
def fixture_model(reference):
    return model_from_state_dict({k[len("state_dict/"):]: v for k, v in reference.items()
                                  if k.startswith("state_dict/")})


@pytest.fixture(scope="module")
def exported(fixture_model, reference):
    return export_yolo(fixture_model, reference["input/img"].shape[-1], names=["person", "cell phone"])


def assert_within_fixture_tolerance(got, want):
    assert got.shape == want.shape
    assert np.abs(got[:, :4] - want[:, :4]).max() <= BOX_TOL_PX
    assert np.abs(got[:, 4:] - want[:, 4:]).max() <= SCORE_TOL


def test_full_check_and_node_budget(exported, shared):
    onnx.checker.check_model(exported, full_check=True)
    theirs = onnx.load(str(shared / "fixtures" / ULTRALYTICS_ONNX))
    assert len(exported.graph.node) <= len(theirs.graph.node) == 320
    ops = op_histogram(exported)
    assert "BatchNormalization" not in ops and "Shape" not in ops  # BN folded, shapes static


def test_matches_ultralytics_fixture(exported, reference):
    assert_within_fixture_tolerance(onnx_output(exported, reference["input/img"]), reference["eval/inference_out"])


def test_dynamic_batch(exported, reference):
    img, want = reference["input/img"], reference["eval/inference_out"]
    dims = exported.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", *img.shape[1:]]
    assert_within_fixture_tolerance(onnx_output(exported, img[1:]), want[1:])
    triple = np.concatenate([img, img[:1]])
    assert_within_fixture_tolerance(onnx_output(exported, triple), np.concatenate([want, want[:1]]))


def test_opset_17(fixture_model, reference):
    model17 = export_yolo(fixture_model, reference["input/img"].shape[-1], opset=17)
    onnx.checker.check_model(model17, full_check=True)
    assert model17.opset_import[0].version == 17
    assert_within_fixture_tolerance(onnx_output(model17, reference["input/img"][:1]),
                                    reference["eval/inference_out"][:1])


def test_dfl_softmax_on_last_axis_and_metadata(exported, reference):
    inferred = onnx.shape_inference.infer_shapes(exported)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in inferred.graph.value_info}
    for node in (n for n in exported.graph.node if n.op_type == "Softmax"):
        axis = next(a.i for a in node.attribute if a.name == "axis")
        assert axis in (-1, ranks[node.input[0]] - 1), f"{node.name} softmax on axis {axis}"
    meta = {p.key: p.value for p in exported.metadata_props}
    assert ast.literal_eval(meta["names"]) == {0: "person", 1: "cell phone"}
    assert ast.literal_eval(meta["strides"]) == [8, 16, 32] and meta["stride"] == "32"
    assert ast.literal_eval(meta["imgsz"]) == list(reference["input/img"].shape[2:]) and meta["task"] == "detect"


def with_zeroed_scores(onnx_model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of an exported detector whose class-score rows (output[:, 4:]) are all 0."""
    from onnx import helper, numpy_helper

    zeroed = onnx.ModelProto()
    zeroed.CopyFrom(onnx_model)
    graph = zeroed.graph
    name = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{o}_unzeroed" if o == name else o for o in node.output]
    nc = len(ast.literal_eval({p.key: p.value for p in zeroed.metadata_props}["names"]))
    mask = np.zeros((1, 4 + nc, 1), np.float32)
    mask[:, :4] = 1
    graph.initializer.append(numpy_helper.from_array(mask, "score_zeroing_mask"))
    graph.node.append(helper.make_node("Mul", [f"{name}_unzeroed", "score_zeroing_mask"], [name]))
    return zeroed


@pytest.fixture(scope="module")
def random_model_and_export():
    """A random nc=3 model exported at 64x96 (non-square), and two images."""
    model = build_yolo11("n", nc=3, seed=1)
    images = np.random.default_rng(1).random((2, 3, 64, 96), dtype=np.float32)
    return model, export_yolo(model, (64, 96)), images


def test_matches_pytensor_on_a_random_model_at_another_size(random_model_and_export):
    """No fixture needed: onnxruntime vs PyTensor, boxes (px) and scores judged separately."""
    model, exported, images = random_model_and_export
    figures = parity_vs_pytensor(exported, model, images)
    assert figures["box_max_abs_px"] <= BOX_TOL_PX and figures["score_max_abs"] <= SCORE_TOL, figures
    assert figures["box_ok"] and figures["score_ok"] and figures["ok"], figures


def test_an_export_with_zeroed_scores_fails_its_checks(random_model_and_export):
    """Boxes untouched, every class score 0: the box check passes, the score check must fail."""
    model, exported, images = random_model_and_export
    zeroed = with_zeroed_scores(exported)
    onnx.checker.check_model(zeroed, full_check=True)
    assert np.abs(onnx_output(zeroed, images)[:, 4:]).max() == 0
    figures = parity_vs_pytensor(zeroed, model, images)
    assert figures["box_ok"] and not figures["score_ok"] and not figures["ok"], figures
    truth = onnx_output(exported, images)
    figures = parity_vs_reference(zeroed, images, truth)
    assert figures["box_ok"] and not figures["score_ok"] and not figures["ok"], figures


def test_bad_image_size_is_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        export_yolo(build_yolo11("n", nc=2, init=False), 100)


def test_command_line(tmp_path, shared, capsys):
    out = tmp_path / "yolo11n.onnx"
    code = export_main([str(shared / "fixtures" / "yolo11n_nc2_320.npz"), "--out", str(out), "--parity-batch", "1"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and out.exists()
    assert summary["opset"] == 18 and summary["nodes"] == sum(summary["nodes_by_op"].values()) <= 320
    assert summary["file_size_bytes"] == out.stat().st_size
    assert summary["parity"]["vs_reference"]["ok"] and summary["parity"]["vs_pytensor"]["ok"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_command_line_refuses_bad_arguments(shared, tmp_path, capsys):
    weights = str(shared / "fixtures" / "yolo11n_nc2_320.npz")
    assert export_main([weights, "--imgsz", "100", "--out", str(tmp_path / "x.onnx")]) == 1
    assert "multiple of 32" in one_line_error(capsys)
    assert export_main([weights, "--names", "a,b,c", "--out", str(tmp_path / "x.onnx")]) == 1
    assert "names" in one_line_error(capsys)
    assert export_main([str(tmp_path / "missing.npz")]) == 1
    assert "no weights file" in one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # nothing written, not even a part


def test_command_line_takes_the_image_size_of_a_reference_file(tmp_path, capsys):
    """A reference npz at 64x96 (here written from PyTensor itself): exported at 64x96, compared."""
    from yolo_lib import weights
    from yolo_lib.compilation import functions as compiled

    model = build_yolo11("n", nc=3, seed=3)
    images = np.random.default_rng(3).random((1, 3, 64, 96), dtype=np.float32)
    path = tmp_path / "ref.npz"
    np.savez(path, **{f"state_dict/{k}": v for k, v in weights.state_dict(model).items()},
             **{"input/img": images, "eval/inference_out": compiled.eval_function(model, 1, 64, 96)(images)})
    assert export_main([str(path), "--out", str(tmp_path / "ref.onnx"), "--parity-batch", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["inputs"]["images"] == ["batch", 3, 64, 96] and summary["parity"]["vs_reference"]["ok"]


def test_command_line_refuses_a_file_that_is_not_an_npz(tmp_path, capsys):
    bad = tmp_path / "weights.npz"
    bad.write_text("not an npz")
    assert export_main([str(bad)]) == 1
    assert re.search("cannot read .* as an .npz file", one_line_error(capsys))


def test_dynamic_image_size():
    """``dynamic_size=True``: one file for any multiple of 32, anchors computed in the graph."""
    model = build_yolo11("n", nc=3, seed=2)
    exported = export_yolo(model, 320, dynamic_size=True)
    dims = [d.dim_param or d.dim_value for d in exported.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    rng = np.random.default_rng(2)
    for hw in ((64, 96), (96, 64)):
        figures = parity_vs_pytensor(exported, model, rng.random((1, 3, *hw), dtype=np.float32))
        assert figures["box_ok"] and figures["score_ok"] and figures["ok"], (hw, figures)
