"""Per-frame latency of YOLO11n at 320 in headless Chromium (onnxruntime-web, wasm) vs
onnxruntime in Python, same model, same image, same thread count, same run.

    python benchmarks/bench_browser.py [--rounds 6] [--per-round 5] [--threads 0]

Model: Ultralytics' own export in ``../shared/fixtures`` when present, else our export of the
seeded weights. The image is a 640x480 frame (a COCO photo when ../shared has one, else a
synthetic scene), letterboxed to 320. A "frame" is letterbox + inference + NMS, timed inside the
page with performance.now() and in Python with perf_counter; inference alone is reported too.
Rounds alternate page / Python so background load hits both alike. Prints medians (ms) and the
ratio browser / Python. Needs Playwright and the system Chromium (see yolo_lib.demo.browser).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import yolo_lib  # noqa: F401
from yolo_lib.data.letterbox import letterbox_image
from yolo_lib.demo.browser import demo_page, find_chromium, HOW_TO_GET
from yolo_lib.demo.model_choice import export_weights
from yolo_lib.demo.web_setup import ensure_node_modules
from yolo_lib.export.yolo import onnx_session
from yolo_lib.paths import fixture_path, shared_dir
from yolo_lib.postprocess import non_max_suppression


def bench_image() -> np.ndarray:
    root = shared_dir()
    photo = root / "data" / "coco128" / "images" / "000000000009.jpg" if root else None
    if photo is not None and photo.exists():
        return np.asarray(Image.open(photo).convert("RGB").resize((640, 480)))
    from yolo_lib.data.synthetic import draw_image

    return np.asarray(draw_image(np.random.default_rng(0), 640, 480)[0])


def python_frame(session, image: np.ndarray) -> tuple[float, float]:
    """ms for one frame (letterbox + inference + NMS) and for the inference alone."""
    t0 = time.perf_counter()
    lb, _ = letterbox_image(image, 320)
    x = (lb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    t1 = time.perf_counter()
    out = session.run(None, {"images": x})[0]
    t2 = time.perf_counter()
    non_max_suppression(out)
    t3 = time.perf_counter()
    return (t3 - t0) * 1e3, (t2 - t1) * 1e3


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--threads", type=int, default=0,
                   help="threads for both (0 = onnxruntime-web's default for this machine: min(4, ceil(cores/2)))")
    args = p.parse_args(argv)
    if find_chromium() is None:
        raise SystemExit(HOW_TO_GET)
    ensure_node_modules()
    threads = args.threads or min(4, -(-(os.cpu_count() or 2) // 2))
    work = Path(tempfile.mkdtemp(prefix="bench_browser_"))
    model = fixture_path("ultralytics_yolo11n_nc2_320.onnx") or export_weights(None, work / "seeded.onnx")
    image = bench_image()
    Image.fromarray(image).save(work / "frame.png")
    session = onnx_session(model, threads)
    page_frame, page_infer, py_frame, py_infer = [], [], [], []
    with demo_page(model, work, query=f"?backend=wasm&threads={threads}") as page:
        page.evaluate("window.demo.detectImageUrl('/files/frame.png')")
        page.evaluate("window.demo.benchmark(0, 2)")  # warm-up
        for _ in range(2):
            python_frame(session, image)
        for r in range(args.rounds):
            got = page.evaluate(f"window.demo.benchmark({args.per_round}, 0)")
            page_frame += got["frame_ms"]
            page_infer += got["infer_ms"]
            for _ in range(args.per_round):
                f, i = python_frame(session, image)
                py_frame.append(f)
                py_infer.append(i)
            print(f"round {r + 1}/{args.rounds}: browser {np.median(got['frame_ms']):.1f} ms/frame, "
                  f"Python {np.median(py_frame[-args.per_round:]):.1f} ms/frame", flush=True)
        stats = page.evaluate("window.demo.stats()")
    med = {k: float(np.median(v)) for k, v in
           {"browser_frame": page_frame, "browser_infer": page_infer, "python_frame": py_frame, "python_infer": py_infer}.items()}
    results = {
        "machine": f"{platform.node()} {os.cpu_count()} cores", "load_average": os.getloadavg(),
        "model": str(model), "imgsz": 320, "threads": threads, "page_backend": stats["backend"],
        "page_threads": stats["threads"], "cross_origin_isolated": stats["isolated"], "frames_each": len(page_frame),
        "median_ms": med,
        "ratio_frame_browser_over_python": med["browser_frame"] / med["python_frame"],
        "ratio_infer_browser_over_python": med["browser_infer"] / med["python_infer"],
    }
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
