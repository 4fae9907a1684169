# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · The browser demo: your model, your webcam, no Python
#
# The last step of the workshop: the ONNX file from the export runs **in the browser**, with
# [onnxruntime-web](https://onnxruntime.ai/docs/get-started/with-javascript/web.html), on frames
# from your webcam. Nothing leaves your machine; no Python runs at inference time.
#
# In this notebook we
#
# 1. export the current best weights (a training run's, else the reference fixture's);
# 2. start the demo server and say how to open the page, locally or through an SSH tunnel;
# 3. put the page's pre- and post-processing (JavaScript) beside `yolo_lib`'s (Python) and check
#    that they compute the same numbers;
# 4. open the page in a headless Chromium and take a screenshot, when a browser is installed.
#
# **Goal:** your exported model running in a browser on your webcam, with the page's
# pre- and post-processing proven to compute what `yolo_lib` computes.

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Image as ShowImage, display
from PIL import Image

from yolo_lib.data import coco_photos
from yolo_lib.data.letterbox import boxes_from_letterbox, letterbox_image, letterbox_params
from yolo_lib.demo.browser import HOW_TO_GET, find_chromium, screenshot_still_image
from yolo_lib.demo.model_choice import default_model
from yolo_lib.demo.node_check import NodeMissing, js_letterbox, js_nms
from yolo_lib.demo.server import DemoServerError, make_server, serve_in_background, tunnel_hint
from yolo_lib.demo.side_by_side import side_by_side_html
from yolo_lib.demo.web_setup import WebSetupError, ensure_node_modules
from yolo_lib.export.yolo import onnx_session
from yolo_lib.postprocess import non_max_suppression

# %% [markdown]
# ## 1. The model to serve
#
# `default_model()` looks for the newest `runs/*/weights/best.npz` (what the training notebook
# writes) and exports it to ONNX next to it. Without a training run it exports the Ultralytics
# reference weights from `../shared/fixtures`: **random** weights, so the boxes they draw mean
# nothing, but every number can be checked. On a fresh clone without `../shared` it exports the
# seeded initial weights. It says which. The file is Ultralytics' format: input `images`
# (1, 3, 320, 320), output `output0` (1, 4+nc, 2100), class names in the metadata.

# %%
choice = default_model()
MODEL = choice.onnx_path
TRAINED = choice.kind == "trained"  # else the fixture's random weights or the seeded ones
print(f"serving {MODEL.name} ({MODEL.stat().st_size / 1e6:.1f} MB)\n  {choice.source}")

# %% [markdown]
# ## 2. Start the server
#
# `python -m yolo_lib.demo` is the same thing from a terminal. The server only listens on
# 127.0.0.1 and sends the two headers that make the page *cross-origin isolated*
# (`Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Embedder-Policy: require-corp`):
# without them browsers refuse `SharedArrayBuffer`, and onnxruntime-web falls back to one thread.
#
# On a Lambda instance, forward the port from your laptop with the `ssh -N -L ...` command
# printed below, then open the URL in your laptop's browser: the camera is your laptop's
# (browsers allow `getUserMedia` on `localhost` without HTTPS).

# %%
try:
    ensure_node_modules()
    try:
        server = make_server(MODEL, 8000, source=choice.source)
    except DemoServerError:  # 8000 busy (a second kernel?): any free port
        server = make_server(MODEL, 0, source=choice.source)
    URL = serve_in_background(server)
    print(f"demo at {URL}  (runs while this kernel runs; server.shutdown() stops it)")
    print(f"from your laptop, for a remote machine:  {tunnel_hint(server.server_address[1])}")
except WebSetupError as e:
    server, URL = None, None
    print(f"no server: {e}")

# %% [markdown]
# ## 3. Pre-processing: the same letterbox in both languages
#
# Boxes in the wrong place are the most common bug of browser YOLO demos, and the cause is
# almost always a letterbox that differs from training's by a pixel of padding or a scale. The
# page therefore does exactly what `yolo_lib.data.letterbox` does: the same scale, the same
# rounding of the padding (`round(dw - 0.1)`), grey 114, and even the same bilinear resampling as
# Pillow (its fixed-point arithmetic, reimplemented), so the page feeds the model the very same
# bytes. Then RGB, divided by 255, channels first: NCHW float32.

# %%
display(HTML(side_by_side_html(letterbox_params, "letterbox.mjs", "letterboxParams")))

# %%
def demo_image() -> np.ndarray:
    """A real, non-square photograph: one of the COCO images shipped with the repository."""
    photo = coco_photos.photo("000000000308.jpg")  # seven people at a wine tasting (CC BY-SA)
    print("photo:", photo.credit)
    return photo.image


image = demo_image()
lb, params = letterbox_image(image, 320)
x_python = (lb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
try:
    x_js, js_params = js_letterbox(image)
    print(f"image {image.shape[1]}x{image.shape[0]} -> content {params.new_w}x{params.new_h} at "
          f"(left {params.left}, top {params.top}); the page's: {js_params['newW']}x{js_params['newH']} "
          f"at ({js_params['left']}, {js_params['top']})")
    identical = x_js.dtype == x_python.dtype and np.array_equal(x_js, x_python)
    print(f"max |page input - Python input| = {np.abs(x_js - x_python).max()} "
          f"({'identical' if identical else 'NOT identical'} bytes)")
    assert identical, "the page's letterbox no longer gives the model the same input as yolo_lib's"
except NodeMissing as e:
    x_js = None
    print(f"skipped the JavaScript run: {e}")

fig, axes = plt.subplots(1, 2, figsize=(9, 4))
axes[0].imshow(image)
axes[0].set_title(f"original {image.shape[1]}x{image.shape[0]}")
axes[1].imshow(lb)
axes[1].set_title("letterbox 320x320 (what the model sees)")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. Post-processing: decode, class-aware NMS, back through the letterbox
#
# The model's output is (1, 4+nc, A): for each of the A = 2100 anchors a box (centre, width,
# height in letterbox pixels) and nc class scores. Each anchor keeps its best class; anchors
# under the confidence threshold (0.25, Ultralytics' default) go; overlapping boxes of the same
# class (IoU > 0.7) are suppressed, best first. Boxes of different classes never suppress each
# other: both implementations shift every class into its own coordinate range. Finally each box
# goes back through the letterbox, the inverse of the transform above.

# %%
display(HTML(side_by_side_html(non_max_suppression, "postprocess.mjs", "nonMaxSuppression")))
display(HTML(side_by_side_html(boxes_from_letterbox, "letterbox.mjs", "boxFromLetterbox")))

# %%
output = onnx_session(MODEL).run(None, {"images": x_python})[0]
# Random weights rarely reach 0.25; the check then uses the threshold that keeps the best 30 anchors.
best = np.sort(output[0, 4:].max(0))[::-1]
conf = 0.25 if TRAINED or best[0] > 0.25 else float(np.nextafter(best[29], np.float32(0)))
python_dets = non_max_suppression(output, conf=conf)[0]
try:
    page_dets = js_nms(output, conf)
    same = page_dets.shape == python_dets.shape and np.allclose(page_dets, python_dets, atol=1e-4)
    print(f"threshold {conf:.4g}: Python keeps {len(python_dets)} boxes, the page's code {len(page_dets)}; "
          f"identical: {same}")
    assert same, "the page's NMS keeps other boxes than yolo_lib's"
except NodeMissing as e:
    print(f"skipped the JavaScript run: {e}")
boxes = boxes_from_letterbox(python_dets[:, :4], params)
print("first boxes in original-image pixels:\n", np.round(boxes[:5], 1))

# %% [markdown]
# ## 5. The page itself
#
# Open the URL printed above. The page picks **WebGPU** when the browser offers a real GPU
# adapter and otherwise **wasm** with threads (a software "fallback" WebGPU adapter is slower
# than wasm by far, so it is not used). It shows the backend, the model's classes (read from the
# ONNX metadata), frames per second and the milliseconds of inference, letterbox and NMS. You
# can switch to any other Ultralytics-format ONNX file (for example `yolo export format=onnx`
# of an Ultralytics model) or detect on a still image; the confidence slider re-runs NMS.
#
# Below, when Chromium is installed, a headless Chromium opens the page, detects on the image
# from section 3 and takes a screenshot. With random weights no box reaches 0.25, so the
# threshold is lowered to show the drawing: the boxes are then meaningless, as said.

# %%
if server is None or find_chromium() is None:
    print(HOW_TO_GET if find_chromium() is None else "no server: see section 2")
else:
    files = Path(tempfile.mkdtemp(prefix="demo_"))
    Image.fromarray(image).save(files / "image.png")
    shot = screenshot_still_image(MODEL, files, "image.png", fallback_conf=None if TRAINED else conf)
    result, stats = shot["result"], shot["stats"]
    t = stats["times"]
    print(f"backend {stats['backend']} ({stats['threads']} thread(s), cross-origin isolated: {stats['isolated']}); "
          f"{len(result['detections'])} boxes; inference {t['infer']:.0f} ms, letterbox {t['pre']:.0f} ms, "
          f"NMS {t['post']:.1f} ms")
    display(ShowImage(shot["png"], width=700))

# %% [markdown]
# ## How fast is it?
#
# `benchmarks/bench_browser.py` times a frame in headless Chromium (wasm) against onnxruntime in
# Python on the same model, image and thread count; `docs/benchmarks.md` has the figures. Expect
# the browser's wasm to be several times slower than native onnxruntime; WebGPU on a real GPU
# closes much of that gap. At 320 x 320 a laptop typically reaches interactive frame rates.

#
# ## Takeaway
#
# * The page runs the very ONNX file from notebook 11 with onnxruntime-web (WebGPU, else wasm
#   with threads), and its letterbox and NMS are the same arithmetic as `yolo_lib`'s.
# * The server only listens on 127.0.0.1: on a remote machine, an SSH tunnel brings the page to
#   your laptop's browser and camera.
#
# ## What to try next
#
# * Open the page, allow the camera and move the confidence slider.
# * Load another Ultralytics-format ONNX file with the page's model picker.
# * Serve your own checkpoint: `python -m yolo_lib.demo --model my.onnx`.
