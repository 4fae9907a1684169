"""Helpers for the browser tests: skip reasons, the demo page in Chromium, test models and media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from yolo_lib.demo import browser
from yolo_lib.demo.web_setup import WebSetupError, ensure_node_modules
from yolo_lib.paths import fixture_path


def require_browser():
    """Skip (saying how to get them) unless Playwright, Chromium and web/node_modules are there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed: pip install playwright (the dev extra has it)")
    if browser.find_chromium() is None:
        pytest.skip(browser.HOW_TO_GET)
    try:
        ensure_node_modules(quiet=True)
    except WebSetupError as e:
        pytest.skip(str(e))


def yolo_model(tmp_dir: Path) -> tuple[Path, str]:
    """Ultralytics' own YOLO11n ONNX from ../shared/fixtures, else our export of seeded weights."""
    theirs = fixture_path("ultralytics_yolo11n_nc2_320.onnx")
    if theirs is not None:
        return theirs, "fixture"
    from yolo_lib.demo.model_choice import export_weights

    return export_weights(None, tmp_dir / "seeded_yolo11n_nc2_320.onnx"), "seeded"


def bright_spot_detector(path: Path, size: int = 320, stride: int = 8, level: float = 0.9) -> Path:
    """A hand-written detector in Ultralytics' output format: one class, 'bright'.

    Input ``images`` (1, 3, size, size); output (1, 5, A) with A = (size/stride)^2 cells, row-major:
    each cell's box is the cell itself (cx, cy, w, h in input pixels) and its score is
    sigmoid(40 * (mean brightness of the cell - level)), i.e. ~1 for cells covered by a bright
    object and ~0 elsewhere. It makes the camera test's expected boxes known in advance.
    """
    g = size // stride
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32)
    boxes = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride,
                      np.full(g * g, stride, np.float32), np.full(g * g, stride, np.float32)])[None]
    nodes = [
        helper.make_node("ReduceMean", ["images", "axis1"], ["grey"], keepdims=1),
        helper.make_node("AveragePool", ["grey"], ["cells"], kernel_shape=[stride, stride], strides=[stride, stride]),
        helper.make_node("Sub", ["cells", "level"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probs"]),
        helper.make_node("Reshape", ["probs", "flat"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    inits = [
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("level", TensorProto.FLOAT, [], [level]),
        helper.make_tensor("gain", TensorProto.FLOAT, [], [40.0]),
        helper.make_tensor("flat", TensorProto.INT64, [3], [1, 1, g * g]),
        onnx.numpy_helper.from_array(boxes.astype(np.float32), "boxes"),
    ]
    graph = helper.make_graph(nodes, "bright_spot", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, g * g])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in {"names": "{0: 'bright'}", "imgsz": f"[{size}, {size}]", "task": "detect"}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def write_y4m(path: Path, width: int, height: int, box: tuple[int, int, int, int], frames: int = 10,
              background: int = 40, bright: int = 235) -> Path:
    """A 4:2:0 y4m video: dark grey frames (luma ``background``) with a white square at ``box``
    (x1, y1, x2, y2, even numbers), played by Chromium's fake camera."""
    luma = np.full((height, width), background, np.uint8)
    x1, y1, x2, y2 = box
    luma[y1:y2, x1:x2] = bright
    chroma = np.full((height // 2, width // 2), 128, np.uint8)
    frame = b"FRAME\n" + luma.tobytes() + chroma.tobytes() + chroma.tobytes()
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


def detections_array(dets: list[dict]) -> np.ndarray:
    """The page's detections -> (N, 6) [x1, y1, x2, y2, score, class] as yolo_lib.postprocess gives."""
    return np.asarray([[*d["box"], d["score"], d["cls"]] for d in dets], np.float32).reshape(-1, 6)


def python_detections(session, image_rgb: np.ndarray, size: int, conf: float) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime + yolo_lib: raw output (1, 4+nc, A) and detections (N, 6) in image pixels."""
    from yolo_lib.data.letterbox import boxes_from_letterbox, letterbox_image
    from yolo_lib.postprocess import non_max_suppression

    lb, params = letterbox_image(image_rgb, size)
    x = (lb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    det = non_max_suppression(out, conf=conf)[0]
    det[:, :4] = boxes_from_letterbox(det[:, :4], params)
    return out, det


def by_position(dets: np.ndarray) -> np.ndarray:
    """Rows sorted by box (y1, x1): for disjoint boxes of equal scores, whose order is arbitrary."""
    return dets[np.lexsort((dets[:, 0], dets[:, 1]))]


def assert_same_detections(page: np.ndarray, python: np.ndarray):
    """Same count and classes, boxes within 1 px, scores within 1e-3 (both sorted best first)."""
    assert page.shape == python.shape, f"page found {len(page)} detections, Python {len(python)}"
    np.testing.assert_array_equal(page[:, 5], python[:, 5])
    np.testing.assert_allclose(page[:, :4], python[:, :4], atol=1.0, rtol=0)
    np.testing.assert_allclose(page[:, 4], python[:, 4], atol=1e-3, rtol=0)
