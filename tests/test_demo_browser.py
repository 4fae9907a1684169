"""The browser demo in real (headless) Chromium: a still image and a fake webcam give the same
detections as onnxruntime + yolo_lib.postprocess in Python, and a box where the object is."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from demo_browser import (
    assert_same_detections, bright_spot_detector, by_position, detections_array, python_detections,
    require_browser, write_y4m, yolo_model,
)
from yolo_lib.data.letterbox import boxes_from_letterbox, letterbox_params
from yolo_lib.demo.browser import demo_page
from yolo_lib.export.yolo import onnx_session
from yolo_lib.paths import shared_dir
from yolo_lib.postprocess import CONF_THRESHOLD, non_max_suppression

COCO_IMAGE = "000000000036.jpg"  # 481 x 640 portrait: the letterbox pads left and right


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    require_browser()
    return tmp_path_factory.mktemp("demo_media")


def still_image(folder) -> np.ndarray:
    """A real COCO photo when ../shared is there, else a synthetic scene; non-square either way."""
    root = shared_dir()
    if root is not None and (root / "data" / "coco128" / "images" / COCO_IMAGE).exists():
        return np.asarray(Image.open(root / "data" / "coco128" / "images" / COCO_IMAGE).convert("RGB"))
    from yolo_lib.data.synthetic import draw_image

    return np.asarray(draw_image(np.random.default_rng(3), 437, 291)[0])


def separating_conf(best_scores: np.ndarray, margin: float, most: int = 20) -> float | None:
    """A threshold under the top-k anchor scores where those k are each more than 2 * ``margin``
    apart (so numeric noise cannot reorder them for NMS) and k is as large as that allows; None
    when the two best are tied (the seeded weights give flat image regions identical scores)."""
    s = np.sort(best_scores)[::-1]
    k = 0
    while k < min(most, len(s) - 1) and s[k] - s[k + 1] > 2 * margin:
        k += 1
    return None if k == 0 else float((s[k - 1] + s[k]) / 2)


def test_still_image_matches_python(media):
    model, kind = yolo_model(media)
    image = still_image(media)
    Image.fromarray(image).save(media / "still.png")  # PNG: the browser decodes the very same bytes
    session = onnx_session(model)
    with demo_page(model, media) as page:
        got = page.evaluate("window.demo.detectImageUrl('/files/still.png')")
        raw = page.evaluate("window.demo.lastOutput()")
        page_out = np.asarray(raw["data"], np.float32).reshape(raw["dims"])
        py_out, py_det = python_detections(session, image, 320, CONF_THRESHOLD)
        # The raw outputs agree: letterbox bytes, NCHW layout and onnxruntime-web's numerics.
        assert page_out.shape == py_out.shape
        assert np.abs(page_out[:, :4] - py_out[:, :4]).max() < 0.05
        score_diff = float(np.abs(page_out[:, 4:] - py_out[:, 4:]).max())
        assert score_diff < 1e-4
        # The full path at the default threshold (a random-weight model rarely reaches 0.25) ...
        assert_same_detections(detections_array(got["detections"]), py_det)
        # ... and at a threshold that keeps the best-scoring boxes whose order is not a tie.
        conf = separating_conf(py_out[0, 4:].max(0), margin=score_diff + 1e-7)
        assert conf is not None or kind == "seeded", "the fixture model's best scores are tied"
        if conf is not None:
            again = page.evaluate(f"window.demo.redetect({conf})")
            _, py_det = python_detections(session, image, 320, conf)
            assert len(py_det) >= 1, f"no detections with the {kind} model: the comparison would be vacuous"
            assert_same_detections(detections_array(again["detections"]), py_det)
        # The page's decode + NMS equal yolo_lib's on the page's own output, ties and crowds
        # included, at a threshold that keeps a few dozen candidates.
        sixtieth = np.sort(page_out[0, 4:].max(0))[-60]
        low = float(np.nextafter(sixtieth, np.float32(0)))  # just under it: at least 60 candidates
        crowd = page.evaluate(f"window.demo.redetect({low})")
        want = non_max_suppression(page_out, conf=low)[0]
        want[:, :4] = boxes_from_letterbox(want[:, :4], letterbox_params(image.shape[1], image.shape[0], 320))
        assert len(want) >= 3
        assert_same_detections(detections_array(crowd["detections"]), want)
        assert {d["name"] for d in crowd["detections"]} <= {"0", "1", "person", "cell phone"}
        # The page's own controls: pick another ONNX file, then a still image from disk.
        page.set_input_files("#model-file", str(bright_spot_detector(media / "bright_picked.onnx")))
        page.wait_for_function("document.getElementById('model').textContent.includes('bright')")
        page.set_input_files("#image-file", str(media / "still.png"))
        page.wait_for_function("window.demo.stats().frames >= 2")
        picked = detections_array(page.evaluate("window.demo.stats()")["detections"])
    _, want = python_detections(onnx_session(media / "bright_picked.onnx"), image, 320, CONF_THRESHOLD)
    assert_same_detections(by_position(picked), by_position(want))


CAMERA_W, CAMERA_H = 640, 360
OBJECT = (400, 120, 480, 200)  # x1, y1, x2, y2 in camera pixels: 80 x 80 white square


def test_fake_camera_frames_and_box_at_the_object(media):
    video = write_y4m(media / "camera.y4m", CAMERA_W, CAMERA_H, OBJECT)
    bright_spot_detector(media / "bright.onnx")
    flags = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-video-capture={video}")
    model, _ = yolo_model(media)
    with demo_page(model, media, *flags, query="?model=/files/bright.onnx&source=camera") as page:
        page.wait_for_function("window.demo.stats().frames >= 3")
        page.evaluate("window.demo.stopCamera()")
        page.wait_for_timeout(200)
        stats = page.evaluate("window.demo.stats()")
        frame = page.evaluate("window.demo.lastFrameBase64()")
    assert stats["frames"] >= 3 and stats["fps"] > 0 and stats["backend"] == "wasm" and stats["isolated"]
    assert (frame["width"], frame["height"]) == (CAMERA_W, CAMERA_H)
    page_det = detections_array(stats["detections"])
    assert len(page_det) >= 1 and {d["name"] for d in stats["detections"]} == {"bright"}
    x1, y1, x2, y2 = OBJECT
    # Every box lies on the object, and together they span it (the model's cells are 8 letterbox
    # px = 16 camera px, so the union may miss at most one partly covered cell on each side).
    assert np.all(page_det[:, 0] >= x1 - 1) and np.all(page_det[:, 1] >= y1 - 1)
    assert np.all(page_det[:, 2] <= x2 + 1) and np.all(page_det[:, 3] <= y2 + 1)
    union = [page_det[:, 0].min(), page_det[:, 1].min(), page_det[:, 2].max(), page_det[:, 3].max()]
    np.testing.assert_allclose(union, OBJECT, atol=16)
    # And Python finds the same boxes on the very frame the page processed.
    rgba = np.frombuffer(base64.b64decode(frame["rgba"]), np.uint8).reshape(CAMERA_H, CAMERA_W, 4)
    _, py_det = python_detections(onnx_session(media / "bright.onnx"), np.ascontiguousarray(rgba[..., :3]), 320, CONF_THRESHOLD)
    assert_same_detections(by_position(page_det), by_position(py_det))


def test_webgpu_only_when_asked_on_a_fallback_adapter(media):
    """Headless Chromium with --enable-unsafe-webgpu offers only SwiftShader's fallback adapter:
    the page must pick wasm by itself; forced to WebGPU (tiny model) it still matches Python."""
    bright_spot_detector(media / "bright.onnx")
    image = np.full((300, 500, 3), 30, np.uint8)
    image[100:180, 200:300] = 255
    Image.fromarray(image).save(media / "bright.png")
    with demo_page(media / "bright.onnx", media, "--enable-unsafe-webgpu") as page:
        assert page.evaluate("window.demo.stats()")["backend"] == "wasm"
        assert "software fallback" in page.text_content("#backend")
    with demo_page(media / "bright.onnx", media, "--enable-unsafe-webgpu", query="?backend=webgpu") as page:
        got = page.evaluate("window.demo.detectImageUrl('/files/bright.png')")
        assert page.evaluate("window.demo.stats()")["backend"] == "webgpu"
    _, want = python_detections(onnx_session(media / "bright.onnx"), image, 320, CONF_THRESHOLD)
    assert len(want) >= 10  # the bright model's cells are disjoint, scores equal: compare as sets
    assert_same_detections(by_position(detections_array(got["detections"])), by_position(want))
