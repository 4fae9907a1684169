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
# # 08 · Data: from COCO (or a synthetic stand-in) to augmented training batches
#
# The detector learns two classes, **person** (class 0) and **cell phone** (class 1). This
# notebook follows the data from annotation files to the tensors the training step eats:
#
# 1. pick a class-focused subset of COCO and download only its images (or generate the offline
#    synthetic set that has the same two categories);
# 2. look at the statistics: how many boxes per class, how big they are;
# 3. **letterbox** every image to S x S once (keep the aspect ratio, centre, pad with grey 114)
#    and cache the result as uint8 arrays, so training never decodes a JPEG;
# 4. augment on the fly like Ultralytics (mosaic, scale/translate, HSV, flip) and batch into
#    float32 NCHW images plus padded box targets.
#
# In the `smoke` profile everything runs on the synthetic set (generated on first use, about
# 10 s) and on seven real COCO photographs shipped with the repository. The `full` profile uses
# the COCO subset once it is built (commands at the end).
#
# **Goal:** know what the training step is fed, and why: the class balance and box sizes of the
# data, the letterbox that training and deployment must share, and the augmented, padded
# batches; you write the letterbox geometry yourself (exercise 10).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from yolo_lib.data import (AugmentConfig, BatchLoader, boxes_from_letterbox, boxes_to_letterbox, coco_photos,
                           dataset_for_profile, letterbox_image)
from yolo_lib.data.plots import box_table, show_boxes

SIZE = PROFILE.imgsz
train = dataset_for_profile(PROFILE, "train", progress=PROFILE.name == "full")  # no bars for tiny smoke sets
val = dataset_for_profile(PROFILE, "val", progress=PROFILE.name == "full")
print("train:", train.summary())
print("val  :", {k: v for k, v in val.summary().items() if k != "skipped"})

# %% [markdown]
# `train` is a `CachedDataset`: `train.images` is a read-only memory map of shape
# (N, 3, S, S) uint8 (planar RGB), and `train.labels(i)` gives image i's boxes, float32
# `x1, y1, x2, y2` in letterbox pixels, with their class indices. The box tables are tiny; the
# image array is the only big file (12,000 x 3 x 320 x 320 bytes = 3.7 GB for the full train
# subset), and the operating system pages it in as needed.
#
# ## Real photos
#
# The repository carries seven COCO train2017 photographs with their original annotations of
# person and cell phone (`yolo_lib/weights/reference_data/coco_photos`; each image keeps its own Creative
# Commons licence, listed in its `README.md` and `instances.json`, not this project's licence).
# The same code that builds the full subset's cache builds one for them; crowd boxes
# (`iscrowd=1`, one box around a whole crowd, as in the baseball photograph) are dropped.

# %%
photos = coco_photos.open_photos(SIZE)
print(photos.summary())
for name in coco_photos.file_names():
    print("  ", coco_photos.photo(name).credit)

# %% [markdown]
# ## Class and box-size statistics
#
# Three histograms per dataset: boxes per class, box sides (in letterbox pixels at this
# profile's S, log scale), boxes per image. The phones are *small*: in COCO most cell-phone
# boxes are under 32 x 32 px at the original size, i.e. under 16 px at S = 320. That is why the
# stride-8 head matters for this class. The synthetic set mimics this: tall figures, small slabs.
# Seven photographs are a glimpse, not a statistic: the full subset's histograms come from the
# same cell once it is built.

# %%
sets = [("synthetic" if "synthetic" in str(train.root) else "COCO subset", train), ("COCO photos (real)", photos)]
fig, axes = plt.subplots(len(sets), 3, figsize=(11, 3.2 * len(sets)), squeeze=False)
for row, (name, ds) in zip(axes, sets):
    t = box_table(ds)
    counts = np.bincount(t["classes"], minlength=len(ds.class_names))
    row[0].bar(ds.class_names, counts, color=["tab:orange", "tab:cyan"])
    row[0].set_title(f"{name}: boxes per class")
    bins = np.geomspace(1, SIZE, 25)
    for c, colour in enumerate(["tab:orange", "tab:cyan"]):
        side = np.sqrt(t["w"] * t["h"])[t["classes"] == c]
        row[1].hist(side, bins=bins, alpha=0.6, color=colour, label=ds.class_names[c])
    row[1].set_xscale("log")
    row[1].set_title(f"sqrt(w*h) in px at S={SIZE}")
    row[1].legend()
    row[2].hist(t["per_image"], bins=np.arange(t["per_image"].max() + 2) - 0.5, color="grey")
    row[2].set_title("boxes per image")
    small = {n: float(np.mean(np.sqrt(t["w"] * t["h"])[t["classes"] == c] < 32 * SIZE / 640))
             for c, n in enumerate(ds.class_names) if np.any(t["classes"] == c)}
    print(f"{name}: {len(ds)} images, boxes per class {dict(zip(ds.class_names, counts.tolist()))}, "
          f"share 'small' (< 32 px at 640) {small}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Letterbox: before and after
#
# Letterboxing scales the image by r = min(S/h, S/w), so the long side becomes S, and pastes it
# centred on a grey (114) square. A box moves with its pixels: x' = x * (new_w / w) + left, and
# the inverse maps predictions back to the original photo. Getting this identical in training
# and deployment (the browser demo) is what keeps predicted boxes on target.

# %%
phones = coco_photos.photo()  # the photograph with both classes
original, boxes, classes = phones.image, phones.boxes, phones.classes
boxed, params = letterbox_image(original, SIZE)
lb_boxes = boxes_to_letterbox(boxes, params)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
show_boxes(axes[0], original, boxes, classes, ["person", "phone"], f"original {original.shape[1]}x{original.shape[0]}")
show_boxes(axes[1], boxed, lb_boxes, classes, ["person", "phone"],
           f"letterbox {SIZE}x{SIZE}: scale {params.scale_x:.3f}, left {params.left}, top {params.top}")
plt.show()
back = boxes_from_letterbox(lb_boxes, params)
print("largest round-trip error (px):", float(np.abs(back - boxes).max()))
assert np.allclose(back, boxes, atol=1e-3)

# %% [markdown]
# ### Exercise 10 · the letterbox geometry
#
# Write `letterbox_geometry(width, height, size)` returning `(new_w, new_h, left, top)`: the
# resized image size and where it is pasted. Scale by r = min(size / height, size / width),
# round the new sides (at least 1 pixel, at most `size`), and split the padding in the middle as
# Ultralytics does: `left = round(dw - 0.1)`, `top = round(dh - 0.1)` with `dw = (size - new_w) / 2`
# (the -0.1 puts an odd padding pixel on the right or bottom). The check compares with
# `yolo_lib.data.letterbox_params` on six image sizes, including odd and extreme ones.


# %%
def letterbox_geometry(width, height, size):
    """YOUR CODE: (new_w, new_h, left, top) of a width x height image letterboxed to size x size."""
    raise NotImplementedError("exercise 10: scale, round, centre")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_letterbox_params(width, height, size):
    """Solution of exercise 10."""
    r = min(size / height, size / width)
    new_w = max(1, min(size, int(round(width * r))))
    new_h = max(1, min(size, int(round(height * r))))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    return new_w, new_h, max(int(round(dw - 0.1)), 0), max(int(round(dh - 0.1)), 0)


# %%
from yolo_lib.notebook.exercises import check_letterbox_params, run_exercise

run_exercise(check_letterbox_params, letterbox_geometry, solution_letterbox_params);

# %% [markdown]
# ## Augmentation gallery
#
# Training batches come from `BatchLoader`. With Ultralytics' defaults each image is a
# **mosaic** of four (probability 1.0), then randomly scaled (0.5-1.5) and shifted (±10 %),
# colour-jittered in HSV (hue ±1.5 %, saturation ±70 %, value ±40 %) and flipped left-right
# half of the time. Boxes are clipped; slivers (≤ 2 px, or < 10 % of their area left) are
# dropped. For the last `close_mosaic` epochs mosaic is switched off, so the model finishes on
# whole images like the ones it will see. Everything derives from `(seed, epoch, position)`:
# rerunning this cell draws the same pictures.

# %%
names = train.class_names
epochs = PROFILE.epochs + 2
loader = BatchLoader(train, batch_size=8, augment=AugmentConfig(), seed=0, epochs=epochs, close_mosaic=2)
with_mosaic = next(iter(loader.epoch(0)))
without = next(iter(loader.epoch(epochs - 1)))
print("mosaic in epoch 0:", loader.mosaic_enabled(0), "| in the last epoch:", loader.mosaic_enabled(epochs - 1))
fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
for j, ax in enumerate(axes[0]):
    k = with_mosaic.n_boxes[j]
    show_boxes(ax, with_mosaic.images[j].transpose(1, 2, 0), with_mosaic.boxes[j, :k], with_mosaic.classes[j, :k],
               names, f"mosaic, {k} boxes")
for j, ax in enumerate(axes[1]):
    k = without.n_boxes[j]
    show_boxes(ax, without.images[j].transpose(1, 2, 0), without.boxes[j, :k], without.classes[j, :k],
               names, f"last epochs (no mosaic), {k} boxes")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What a batch looks like
#
# The loss consumes dense, padded targets so that every batch has the same shapes (a compiled
# JAX function is specialised to its shapes). `M` is the most boxes any image can carry: the
# largest per-image count in the dataset, times 4 with mosaic. The `mask` marks real rows;
# padding rows are all zero. A `max_boxes` smaller than needed raises an error, or with
# `on_overflow="truncate"` keeps the largest boxes and counts the rest in
# `loader.truncated_boxes`: never a silent loss.

# %%
b = with_mosaic
for name in ("images", "boxes", "classes", "mask", "n_boxes"):
    a = getattr(b, name)
    print(f"{name:8s} {str(a.shape):22s} {a.dtype}")
print("pixel range:", float(b.images.min()), "to", float(b.images.max()))
assert b.images.shape == (8, 3, SIZE, SIZE) and b.images.dtype == np.float32
assert np.array_equal(b.mask.sum(1), b.n_boxes) and np.all(b.boxes[b.mask == 0] == 0)
assert np.all((b.boxes >= 0) & (b.boxes <= SIZE))

# %% [markdown]
# The loss (notebook 07) takes its targets as box centre and size divided by S, and a bool mask:
# `batch.loss_targets()` converts, in the order of `yolo_lib.loss.detection_loss.target_variables`.

# %%
gt_boxes, gt_classes, gt_mask = b.loss_targets()
print("first box, pixels xyxy :", b.boxes[0, 0].round(1), "class", b.classes[0, 0])
print("first box, loss cxcywh :", gt_boxes[0, 0].round(4), "mask", gt_mask[0, 0])

# %% [markdown]
# ## How fast?
#
# The augmentation is vectorised numpy: with no rotation or shear the affine map is
# axis-aligned, so the warp is one row gather and one column gather per colour plane, and HSV
# becomes a 3x3 colour matrix fused with the conversion to float. A quick measure on this
# machine (the full benchmark is `benchmarks/bench_data.py`, figures in `docs/benchmarks.md`):

# %%
for label, aug in (("no mosaic", AugmentConfig(mosaic=0.0)), ("mosaic", AugmentConfig())):
    fast = BatchLoader(train, batch_size=16, augment=aug, seed=1, reuse_buffers=True)
    c0, n = time.process_time(), 0
    for batch in fast.epoch(0):
        n += len(batch.images)
        if n >= 64:
            break
    print(f"{label:10s}: {n / (time.process_time() - c0):6.0f} images per CPU-second at S={SIZE}")

# %% [markdown]
# ## The full COCO build (on a Lambda H100 instance)
#
# Run once, from the repository root, before the `full` profile. It downloads the annotation
# archive (about 250 MB) once, selects 12,000 train and 2,000 val images (every image with a
# cell phone, the rest filled with person images, seed 0), fetches only those images (about
# 2 GB, 32 parallel connections, resumable: rerun the same command after an interruption;
# corrupt or truncated files are fetched again) and builds the 320 px cache (about 3.7 GB + 0.6 GB).
# Never the 18 GB train2017 zip.
#
# ```bash
# cd yolo-workshop                          # the repository; `python3 workshop.py lab --headless` made .venv
# export YOLO_DATA_DIR=/lambda/nfs/data     # optional: a large persistent disk; default <repo>/data
# .venv/bin/python -m yolo_lib.data build --split val   --images 2000  --workers 32 --cache-size 320
# .venv/bin/python -m yolo_lib.data build --split train --images 12000 --workers 32 --cache-size 320
# ```
#
# Each command prints a JSON summary: images, boxes per class, and every skipped item with its
# reason (a failed download, an unreadable image). Other sources for the images:
# `--source http://mirror/train2017` (a base URL), `--source /data/coco/train2017` (a folder) or
# `--source /data/train2017.zip` (a zip, read member by member); `--annotations PATH` uses a local
# `instances_*.json`; `--classes person "cell phone"` sets the class list and order. Afterwards
# `dataset_for_profile(PROFILE)` picks the COCO subset automatically in the `full` profile.
# To check the augmentation throughput on the instance's 16 cores:
# `.venv/bin/python benchmarks/bench_data.py --processes 16`.
#
# ## Takeaway
#
# * Phones are small: most of their boxes are under 16 px at 320, which is what the stride-8
#   level and the assigner's 16 px candidate floor (notebook 07) are for.
# * Images are letterboxed once into a uint8 cache (centred, grey 114); boxes move with the same
#   scale and offset, and the inverse maps predictions back, exactly (to 1e-3 px).
# * Batches have fixed shapes: images (B, 3, S, S) float32 and boxes padded to M slots with a mask.
#
# ## What to try next
#
# * `AugmentConfig(mosaic=0.0, fliplr=0.0)` in the gallery cell: what does the model see then?
# * Set `close_mosaic` to 0 and look at the last epoch's batch.
# * Build the val subset (`python -m yolo_lib.data build --split val`) and compare its histograms
#   with the photographs'.
