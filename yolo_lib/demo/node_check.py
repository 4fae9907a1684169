"""Run the page's own JavaScript modules under Node.js on numpy data (no browser needed).

Used by the tests and the demo notebook to show that the page's letterbox and NMS give the same
numbers as ``yolo_lib``'s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from yolo_lib.demo.web_setup import WEB_DIR
from yolo_lib.task import IMGSZ

MODULES = ("letterbox", "postprocess", "onnx_metadata", "backend", "detector")

LETTERBOX_SCRIPT = """
import { readFileSync, writeFileSync } from 'node:fs';
const [src, w, h, size, dst] = process.argv.slice(1);
const rgb = readFileSync(src);
const W = Number(w), H = Number(h), rgba = new Uint8ClampedArray(W * H * 4);
for (let i = 0; i < W * H; i++) { rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i); rgba[4 * i + 3] = 255; }
const { pixels, params } = letterbox.letterboxImage({ width: W, height: H, data: rgba }, Number(size));
writeFileSync(dst, Buffer.from(letterbox.toNCHW(pixels).buffer));
console.log(JSON.stringify(params));
"""

NMS_SCRIPT = """
import { readFileSync } from 'node:fs';
const [file, c, a, conf] = process.argv.slice(1);
const buf = readFileSync(file);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
const dets = postprocess.nonMaxSuppression(data, [1, Number(c), Number(a)], Number(conf));
console.log(JSON.stringify(dets.map((d) => [...d.box, d.score, d.cls])));
"""


class NodeMissing(RuntimeError):
    """Node.js is not installed."""


def run_module_script(body: str, *args: str) -> str:
    """Run an ES-module script that sees ``letterbox``, ``postprocess``... (web/src); returns stdout."""
    node = shutil.which("node")
    if node is None:
        raise NodeMissing("Node.js is not installed (e.g. apt-get install -y nodejs)")
    script = "\n".join(f"import * as {m} from '{(WEB_DIR / 'src' / (m + '.mjs')).as_uri()}';" for m in MODULES)
    proc = subprocess.run([node, "--input-type=module", "-e", script + "\n" + body, "--", *args],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"node failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def js_letterbox(image: np.ndarray, size: int = IMGSZ) -> tuple[np.ndarray, dict]:
    """The page's letterbox of an (H, W, 3) uint8 RGB image -> (1, 3, size, size) float32, its params."""
    h, w, _ = image.shape
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.rgb"), Path(tmp, "out.f32")
        src.write_bytes(np.ascontiguousarray(image, np.uint8).tobytes())
        params = json.loads(run_module_script(LETTERBOX_SCRIPT, str(src), str(w), str(h), str(size), str(dst)))
        return np.frombuffer(dst.read_bytes(), np.float32).reshape(1, 3, size, size).copy(), params


def js_nms(output: np.ndarray, conf: float) -> np.ndarray:
    """The page's decode + class-aware NMS of a (1, 4+nc, A) output -> (N, 6) [x1, y1, x2, y2, score, class]."""
    out = np.ascontiguousarray(output, np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "out.f32")
        path.write_bytes(out.tobytes())
        rows = json.loads(run_module_script(NMS_SCRIPT, str(path), str(out.shape[1]), str(out.shape[2]), repr(conf)))
    return np.asarray(rows, np.float32).reshape(-1, 6)
