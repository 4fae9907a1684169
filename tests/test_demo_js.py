"""The web app's pre- and post-processing modules under Node: byte-identical letterbox with
yolo_lib's (Pillow bilinear), identical NMS, ONNX metadata parsing and the backend choice."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from yolo_lib.data.letterbox import letterbox_image, letterbox_params
from yolo_lib.demo.node_check import NodeMissing, js_letterbox, js_nms, run_module_script
from yolo_lib.postprocess import non_max_suppression


@pytest.fixture(autouse=True)
def node_available():
    try:
        run_module_script("")
    except NodeMissing as e:
        pytest.skip(str(e))


def run_json(body: str, *args: str):
    return json.loads(run_module_script(body, *args))


@pytest.mark.parametrize("w,h,size", [(640, 480, 320), (333, 500, 320), (97, 41, 128), (1000, 37, 64), (320, 320, 320)])
def test_letterbox_equals_pillow_byte_for_byte(w, h, size):
    rng = np.random.default_rng(w * h)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[h // 3: h // 2, w // 4: w // 2] = [250, 20, 90]  # an edge, where resampling details show
    got, params = js_letterbox(img, size)
    want, p = letterbox_image(img, size)
    assert (params["newW"], params["newH"], params["left"], params["top"]) == (p.new_w, p.new_h, p.left, p.top)
    np.testing.assert_array_equal(got, (want.astype(np.float32) / 255).transpose(2, 0, 1)[None])


def test_letterbox_params_rounding_matches_python():
    sizes = [(w, h) for w in (1, 2, 3, 5, 99, 101, 333, 639, 640, 641) for h in (1, 7, 100, 427, 480, 1001)]
    got = run_json(f"console.log(JSON.stringify({json.dumps(sizes)}.map(([w, h]) => letterbox.letterboxParams(w, h, 320))));")
    for (w, h), g in zip(sizes, got):
        p = letterbox_params(w, h, 320)
        assert (g["newW"], g["newH"], g["left"], g["top"]) == (p.new_w, p.new_h, p.left, p.top), (w, h)


@pytest.mark.parametrize("conf", [0.25, 0.6])
def test_nms_equals_yolo_lib_postprocess(conf):
    rng = np.random.default_rng(1)
    nc, anchors = 3, 500
    centres = rng.uniform(0, 320, (2, anchors))
    centres[:, :200] = rng.normal(160, 6, (2, 200))  # a crowd of overlapping boxes: NMS has work to do
    out = np.concatenate([centres, rng.uniform(4, 80, (2, anchors)), rng.uniform(0, 1, (nc, anchors)) ** 3])[None]
    out = out.astype(np.float32)
    got, want = js_nms(out, conf), non_max_suppression(out, conf=conf)[0]
    assert len(want) > 5 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_metadata_names_and_imgsz_from_our_export_format(tmp_path):
    from yolo_lib.export.yolo import yolo_metadata
    from yolo_lib.model import build_yolo11

    meta = yolo_metadata(build_yolo11("n", nc=2, init=False), 256, names=["person", "cell phone"])
    model = onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(tmp_path / "m.onnx"))
    got = run_json("""
import { readFileSync } from 'node:fs';
const meta = onnx_metadata.onnxMetadata(new Uint8Array(readFileSync(process.argv[1])));
console.log(JSON.stringify({ meta, names: onnx_metadata.parseNames(meta.names), imgsz: onnx_metadata.parseImgsz(meta.imgsz) }));
""", str(tmp_path / "m.onnx"))
    assert got["meta"] == meta
    assert got["names"] == ["person", "cell phone"] and got["imgsz"] == [256, 256]


def test_backend_is_webgpu_only_on_a_real_adapter():
    got = run_json("""
const gpu = (info) => ({ requestAdapter: async () => info && { info } });
console.log(JSON.stringify(await Promise.all([
  backend.pickBackend(undefined), backend.pickBackend(gpu(null)),
  backend.pickBackend(gpu({ isFallbackAdapter: true })), backend.pickBackend(gpu({ isFallbackAdapter: false, vendor: 'nvidia' })),
]).then((r) => r.map((x) => x.backend))));
""")
    assert got == ["wasm", "wasm", "wasm", "webgpu"]
    assert run_module_script("console.log(backend.wasmThreads(false, 16), backend.wasmThreads(true, 16), backend.wasmThreads(true, 2));").split() == ["1", "4", "1"]


def test_models_with_nms_inside_are_refused_in_one_line():
    body = """
const session = { inputNames: ['images'], outputNames: ['output0'] };
const tryMeta = (meta) => { try { new detector.Detector(null, session, meta, 'm.onnx'); return 'ok'; } catch (e) { return e.message; } };
console.log(JSON.stringify([tryMeta({ imgsz: '[320, 320]', names: "{0: 'a'}" }), tryMeta({ end2end: 'True' }),
  tryMeta({ args: "{'batch': 1, 'nms': True}" }), tryMeta({ imgsz: '[320, 640]' })]));
"""
    ok, end2end, nms, rect = run_json(body)
    assert ok == "ok" and "NMS inside the graph" in end2end and "NMS inside the graph" in nms
    assert "only square model inputs" in rect
