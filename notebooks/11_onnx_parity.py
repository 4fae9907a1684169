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
# # 11 · ONNX export: the same numbers outside PyTensor
#
# A trained detector is only useful where it can run: a phone, a browser, a server without
# Python. ONNX is the common format for that: a graph of standard operators (`Conv`, `Sigmoid`,
# `Reshape`, ...) plus the weights, which runtimes such as onnxruntime (CPU, GPU, WebGPU, wasm)
# execute. No PyTensor release ships an ONNX backend, so `yolo_lib.export` is our own.
#
# In this notebook we
#
# 1. see how the exporter works: a registry that turns each PyTensor Op into ONNX nodes;
# 2. export YOLO11n and check the file with `onnx.checker`;
# 3. compare our graph with Ultralytics' own export of the *same* weights, operator by operator;
# 4. prove parity: onnxruntime vs PyTensor, vs the Ultralytics reference output, in one table;
# 5. time both ONNX files with onnxruntime on this CPU;
# 6. detect objects in a real photograph: letterbox, run, decode, class-aware NMS, draw.
#
# **Goal:** an ONNX file of your model that any runtime can execute, proven to compute the same
# numbers as PyTensor and as Ultralytics, and no larger or slower than Ultralytics' own export.

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnx
import pytensor.tensor as pt

from yolo_lib.export import export_graph, onnx_converter, scalar_converter, ultralytics_reference
from yolo_lib.export.report import (
    BOX_TOL_PX, SCORE_TOL, onnx_output, op_histogram, parity_vs_pytensor, summary,
)
from yolo_lib.export.yolo import compare_outputs, export_yolo
from yolo_lib import settings
from yolo_lib.weights import pretrained, reference
from yolo_lib.paths import data_dir

# %% [markdown]
# ## Which weights?
#
# `WEIGHTS` is the one knob of this notebook. Point it (or the environment variable
# `YOLO_WEIGHTS`) at a trained checkpoint `.npz` from the training notebook (or any Ultralytics
# `.pt`; 80-class COCO checkpoints keep person and cell phone), and every cell below shows real
# detections. Left empty, we use the official `yolo11n.pt` when `python -m yolo_lib.data
# download-weights` fetched it, else the Ultralytics reference: YOLO11n with **random** weights,
# the same weights Ultralytics ran itself. That is perfect for
# checking parity number by number, and useless for detecting anything: its boxes mean nothing.

# %%
WEIGHTS = settings.weights_path()  # e.g. "../data/runs/yolo11n_person_phone/best.npz"
NAMES = ["person", "cell phone"]  # the workshop's two classes (COCO 0 and 67)

REF = reference.load(verbose=True)  # the shared fixture (320 px) when present, else the compact one (128 px)
chosen = pretrained.choose_weights(REF, path=WEIGHTS)  # WEIGHTS, else the downloaded yolo11n.pt, else the reference
model, trained = chosen.model(), chosen.trained
NAMES = NAMES if model.nc == len(NAMES) else [f"class {i}" for i in range(model.nc)]
IMGSZ = 320 if trained else REF["input/img"].shape[-1]  # the reference's own size for the parity rows
print(f"model: YOLO11{model.scale}, nc={model.nc}, {model.num_parameters():,} parameters")

# %% [markdown]
# ## How the exporter works
#
# PyTensor builds a symbolic graph of `Apply` nodes, each applying an **Op** to variables. The
# exporter walks that graph *before* PyTensor's rewrites (the rewritten graph has fused
# elementwise kernels and backend-specific Ops that ONNX knows nothing about), and asks a
# registry how to translate each node. The registry is `functools.singledispatch` on the Op's
# type: our `Conv2d` becomes one ONNX `Conv`, `Elemwise` dispatches again on its scalar op
# (`Add`, `Sigmoid`, ...). Adding an Op to the exporter means registering one function; there is
# no central if-chain. These are the Op types it knows:

# %%
print("Ops:", ", ".join(sorted(t.__name__ for t in onnx_converter.registry if t is not object)))
print("elementwise scalar ops:", ", ".join(sorted(t.__name__ for t in scalar_converter.registry if t is not object)))

# %% [markdown]
# A tiny example: SiLU, the activation YOLO11 uses 78 times, on a batch of feature maps. The
# exported graph has exactly the two nodes you would write by hand. Constants and shared
# variables (parameters) become ONNX *initializers*.

# %%
x = pt.tensor4("x", shape=(None, 16, 8, 8))
tiny = export_graph([x], [x * pt.sigmoid(x)], ["x"], ["y"], dynamic_axes={"x": {0: "batch"}})
for node in tiny.graph.node:
    print(f"{node.op_type:8s} {list(node.input)} -> {list(node.output)}")

# %% [markdown]
# After translation, a few graph passes tidy up what a literal translation leaves behind:
#
# * **constant folding**: everything computable from constants alone (e.g. shape arithmetic
#   like `H * W` when H and W are static) is evaluated at export time;
# * **Reshape targets** built from runtime shapes (`x.reshape((x.shape[0], 64, -1))`) become
#   constants where ONNX's `0` means "copy this dim": the batch stays dynamic at no cost;
# * **BatchNorm folding**: `Conv -> BatchNormalization` becomes one `Conv` with rescaled weights
#   and a bias, `w' = w * gamma / sqrt(var + eps)`, `b' = beta - mean * gamma / sqrt(var + eps)`;
#   a per-channel `Add` after a `Conv` is folded into its bias the same way;
# * **Split**: slices that tile one axis (the C3k2 channel split) become one `Split` node.
#
# Let us see what each step buys on the full model:

# %%
from yolo_lib.export.builder import graph_to_onnx  # noqa: E402
from yolo_lib.export.optimize import optimize  # noqa: E402

images = pt.tensor4("images", shape=(None, 3, IMGSZ, IMGSZ), dtype="float32")
raw = graph_to_onnx([images], [model.inference(images)], ["images"], ["output0"],
                    dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
print(f"literal translation: {len(raw.graph.node)} nodes, e.g. "
      f"{op_histogram(raw).get('BatchNormalization', 0)} BatchNormalization, {op_histogram(raw).get('Shape', 0)} Shape")
print(f"after the passes:    {len(optimize(raw).graph.node)} nodes")

# %% [markdown]
# ## Export YOLO11n
#
# `export_yolo` does all of the above for the detector and adds Ultralytics-style metadata.
# The input `images` is (B, 3, 320, 320) float32 in [0, 1] with a **dynamic batch axis**; the
# output `output0` is (B, 4+nc, 2100): cx, cy, w, h in input pixels, then the sigmoid class
# scores, the same layout as Ultralytics'. The full `onnx.checker` validates the file.

# %%
onnx_model = export_yolo(model, IMGSZ, opset=18, names=NAMES)
out_path = data_dir() / "export" / f"yolo11{model.scale}_nc{model.nc}_{IMGSZ}.onnx"
out_path.parent.mkdir(parents=True, exist_ok=True)
onnx.save(onnx_model, str(out_path))
onnx.checker.check_model(str(out_path), full_check=True)
info = summary(onnx_model, out_path)
print(f"{out_path}: {info['file_size_bytes'] / 1e6:.1f} MB, opset {info['opset']}, {info['nodes']} nodes")
print("inputs:", info["inputs"], " outputs:", info["outputs"])
print("metadata:", {k: info["metadata"][k] for k in ("names", "stride", "strides", "imgsz")})

# %% [markdown]
# ## Our graph beside Ultralytics'
#
# Ultralytics exported exactly these weights with PyTorch's exporter plus onnxslim. Same
# network, so mostly the same operators: one `Sigmoid` + `Mul` per SiLU, a `Split` for every
# C3k2 channel split. The small differences: they have 88 `Conv` to our 87 because they compute
# the DFL expectation as a 1x1 convolution, we as a `MatMul`; they cut the DFL distances into
# (left, top) and (right, bottom) with two `Slice`s, our pass turned the same cut into one
# `Split`. And one deliberate difference: their DFL `Softmax` runs over axis 1 of a transposed
# tensor, ours over the **last** axis, which the WebGPU runtime needs.
#
# With the shared fixture, their file is the one Ultralytics wrote at 320 px. With the compact
# reference (a fresh clone), the repository ships the graph Ultralytics exported at 128 px
# without its weights, plus the outputs that file gave; `ultralytics_reference.load` puts the
# reference's weights back (each BatchNorm folded into its Conv, as Ultralytics folds it) and
# checks that the result gives Ultralytics' outputs before handing it over.

# %%
ours_hist = op_histogram(onnx_model)
theirs_model = ultralytics_reference.load(REF)  # Ultralytics' export of the reference weights
theirs_hist = op_histogram(theirs_model)
ops = sorted(set(ours_hist) | set(theirs_hist), key=lambda o: -max(ours_hist.get(o, 0), theirs_hist.get(o, 0)))
print(f"{'op':14s} {'ours':>5s} {'Ultralytics':>11s}")
for op in ops:
    print(f"{op:14s} {ours_hist.get(op, 0):5d} {theirs_hist.get(op, 0):11d}")
print(f"{'total':14s} {sum(ours_hist.values()):5d} {sum(theirs_hist.values()):11d}")

fig, ax = plt.subplots(figsize=(9, 3))
pos = np.arange(len(ops))
ax.bar(pos - 0.2, [ours_hist.get(o, 0) for o in ops], 0.4, label="yolo_lib (PyTensor)")
ax.bar(pos + 0.2, [theirs_hist.get(o, 0) for o in ops], 0.4, label="Ultralytics")
ax.set_xticks(pos, ops, rotation=45, ha="right")
ax.set_ylabel("nodes")
ax.legend()
ax.set_title("ONNX operators in the exported YOLO11n")
plt.tight_layout()
plt.show()
if model.scale == "n":  # their file is YOLO11n; other scales have other layer counts
    assert sum(ours_hist.values()) <= sum(theirs_hist.values()), "our graph should not be larger than Ultralytics'"
    assert ours_hist["Conv"] == theirs_hist["Conv"] - 1, "one Conv fewer: our DFL expectation is a MatMul"

# %% [markdown]
# ## Parity: do the numbers survive the trip?
#
# Three comparisons, one table. Differences are the largest absolute difference, for boxes in
# pixels and for scores; "relative" divides by the largest value of the reference.
#
# * **onnxruntime vs PyTensor**: the exported graph against PyTensor's own evaluation of the
#   graph that was exported (no rewrites, every Op's numpy implementation).
# * **onnxruntime vs Ultralytics (PyTorch)**: our ONNX file against the reference output that
#   Ultralytics computed with PyTorch on the fixture images (fixture weights only).
# * **Ultralytics' ONNX vs Ultralytics (PyTorch)**: their file against their own numbers, for scale.
#
# Targets: the fixtures' tolerances, boxes 2e-3 px and scores 1e-5, each judged on its own
# (a relative figure is dominated by box coordinates of hundreds of pixels and would hide wrong
# scores), against PyTensor and against Ultralytics.

# %%
rows = []
ref = REF if not trained else None
probe = ref["input/img"] if ref is not None else np.random.default_rng(0).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
pt_fig = parity_vs_pytensor(onnx_model, model, probe[:1])
rows.append(("onnxruntime vs PyTensor (1 image)", pt_fig))
if ref is not None:
    want = ref["eval/inference_out"]
    rows.append(("onnxruntime vs Ultralytics PyTorch", compare_outputs(onnx_output(onnx_model, probe), want)))
    theirs_out = np.concatenate([onnx_output(theirs_model, probe[i:i + 1]) for i in range(len(probe))])
    rows.append(("Ultralytics ONNX vs Ultralytics PyTorch", compare_outputs(theirs_out, want)))
else:
    print("note: the Ultralytics reference rows need the reference weights (WEIGHTS empty, no downloaded yolo11n.pt)")

print(f"{'comparison':42s} {'box px':>10s} {'score':>10s} {'relative':>10s}")
for name, f in rows:
    print(f"{name:42s} {f['box_max_abs_px']:10.2e} {f['score_max_abs']:10.2e} {f['max_rel']:10.2e}")
assert pt_fig["box_max_abs_px"] <= BOX_TOL_PX and pt_fig["score_max_abs"] <= SCORE_TOL
for name, f in rows[1:]:
    assert f["box_max_abs_px"] <= BOX_TOL_PX and f["score_max_abs"] <= SCORE_TOL, name
print(f"within tolerance (boxes {BOX_TOL_PX:g} px, scores {SCORE_TOL:g}): every row above")

# %% [markdown]
# The same with a batch of 3 and the *opset 17* variant (some older runtimes stop there): the
# dynamic batch axis and the older operator set give the same numbers.

# %%
onnx17 = export_yolo(model, IMGSZ, opset=17, names=NAMES)
batch3 = np.concatenate([probe, probe[:1]])[:3]
out18, out17 = onnx_output(onnx_model, batch3), onnx_output(onnx17, batch3)
alone = onnx_output(onnx_model, batch3[:1])
print("batch 3 output:", out18.shape, " opset 17 vs 18 max |diff|:", float(np.abs(out18 - out17).max()))
print("image 0 alone vs in the batch:", float(np.abs(alone - out18[:1]).max()))
for name, got, want in (("opset 17 vs 18", out17, out18), ("image 0 alone vs in the batch", alone, out18[:1])):
    f = compare_outputs(got, want)
    assert f["box_max_abs_px"] <= BOX_TOL_PX and f["score_max_abs"] <= SCORE_TOL, (name, f)

# %% [markdown]
# ## Latency on this CPU
#
# onnxruntime, both files, same process, calls interleaved so background load hits both alike.
# Ultralytics' file has a fixed batch of 1; for batch 8 we use a copy made batch-dynamic (their
# Reshape targets hard-code the batch). The benchmark script `benchmarks/bench_onnx.py` runs
# more repeats and records its figures in `docs/benchmarks.md`.

# %%
from yolo_lib.export.latency import dynamic_batch_copy, time_interleaved  # noqa: E402
from yolo_lib.export.yolo import onnx_session  # noqa: E402

repeats = 10 if PROFILE.name == "smoke" else 50
size = theirs_model.graph.input[0].type.tensor_type.shape.dim[2].dim_value  # their file's fixed input size
for batch in (1, 8):
    xb = np.random.default_rng(batch).random((batch, 3, size, size), dtype=np.float32)
    theirs_b = theirs_model if batch == 1 else dynamic_batch_copy(theirs_model)
    ours_b = onnx_model if size == IMGSZ else export_yolo(model, size, opset=18, names=NAMES)
    t = time_interleaved({"ours": onnx_session(ours_b), "Ultralytics": onnx_session(theirs_b)},
                         {"images": xb}, repeats if batch == 1 else max(3, repeats // 4), desc=f"batch {batch}")
    ratio = t["ours"]["median_ms"] / t["Ultralytics"]["median_ms"]
    print(f"{size} px, batch {batch}: ours {t['ours']['median_ms']:.1f} ms, Ultralytics "
          f"{t['Ultralytics']['median_ms']:.1f} ms (median), ratio {ratio:.2f}")
print("load average (other processes share these cores):", os.getloadavg())

# %% [markdown]
# ## Detecting objects in a real photograph
#
# The deployment path, in numpy around the ONNX file: the photograph (three people on the phone,
# one of the COCO images shipped with the repository) is **letterboxed** exactly as in training (resized keeping its aspect ratio,
# centred on a grey-114 square), scaled to [0, 1], run through onnxruntime, then decoded:
# per anchor the best class, a score threshold, and **class-aware NMS** (boxes of the same class
# that overlap with IoU > 0.7 are suppressed; a person never suppresses a phone). Boxes are
# mapped back from the letterbox to the original pixels.

# %%
from yolo_lib.data import coco_photos  # noqa: E402
from yolo_lib.data.letterbox import boxes_from_letterbox, letterbox_image  # noqa: E402
from yolo_lib.data.plots import show_boxes  # noqa: E402
from yolo_lib.postprocess import non_max_suppression  # noqa: E402

phones = coco_photos.photo()
photo = phones.image  # (H, W, 3) uint8 RGB
print("photo:", phones.credit)
boxed, lb = letterbox_image(photo, IMGSZ)
blob = (boxed.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]  # (1, 3, 320, 320)
pred = onnx_output(onnx_model, blob)
(det,) = non_max_suppression(pred, conf=0.25, iou=0.7)
print(f"{photo.shape[1]}x{photo.shape[0]} photo -> letterbox {IMGSZ}x{IMGSZ}, content at {lb.content}; "
      f"{len(det)} detections above 0.25")
print(f"highest class score anywhere: {pred[0, 4:].max():.3f}")
top, title = det[:20], "detections (top 20)"
if not trained:
    print("These weights are RANDOM (no training): any box here is meaningless noise, shown only to "
          "exercise the pipeline. Set WEIGHTS to a trained checkpoint to see real detections.")
    if len(top) == 0:  # show the pipeline anyway: the five best-scoring anchors after NMS
        top, title = non_max_suppression(pred, conf=0.0, iou=0.7)[0][:5], "5 best boxes, all below 0.25 (random weights)"
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
show_boxes(axes[0], boxed, np.clip(top[:, :4], 0, IMGSZ), top[:, 5], NAMES, title=f"letterboxed input: {title}")
show_boxes(axes[1], photo, boxes_from_letterbox(top[:, :4], lb), top[:, 5], NAMES,
           title="mapped back to the original photo")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Takeaway
#
# * an exporter that translates PyTensor graphs by dispatch on the Op type, with graph passes
#   that leave YOLO11n with no more nodes than Ultralytics' own export;
# * a file whose output matches PyTensor to float32 rounding and Ultralytics' reference within
#   the fixture tolerances, with a dynamic batch, opset 18 or 17;
# * a numpy deployment path (letterbox, decode, NMS) that does not need PyTensor at all.
#
# From the command line: `python -m yolo_lib.export WEIGHTS.npz --out model.onnx --names
# "person,cell phone"` writes the file and prints a JSON summary with the parity figures.
#
# ## What to try next
#
# * Set `WEIGHTS` to your checkpoint from notebook 10 and rerun: real detections on the photograph.
# * Export with `opset=17` and open both files in https://netron.app to see the graph passes' work.
# * Run `benchmarks/bench_onnx.py` for latency figures with more repeats than this notebook's.
