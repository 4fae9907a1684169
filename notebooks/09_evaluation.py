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
# # 09 · Evaluation: from thousands of boxes to one number, COCO mAP
#
# Before training (notebook 10) we need a way to say how good a detector is. The detector
# outputs 2,100 candidate boxes per image at 320 px (one per anchor), each with a score per
# class. Evaluation turns them into the numbers every paper quotes:
#
# 1. **NMS** (non-maximum suppression) keeps the best box of each cluster of overlapping boxes;
# 2. **matching**: each detection, best score first, claims the best still-unclaimed labelled box
#    it overlaps with IoU >= t, and is a true positive (TP), or else a false positive (FP);
# 3. sweeping the score threshold gives a **precision-recall curve** per class; its area is the
#    **average precision** (AP);
# 4. **mAP50-95**: AP averaged over the classes and over ten IoU thresholds t = 0.50 ... 0.95.
#
# We build each step by hand on small examples, check our numbers against `pycocotools` (the
# reference implementation behind every published COCO number), then run the project's
# evaluator, `yolo_lib.evaluate`, on a real set.
#
# **Goal:** compute COCO mAP by hand, step by step, get pycocotools' numbers exactly, and know
# what the project's evaluator reports when notebook 10 scores a model every epoch.

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from yolo_lib.evaluate import score_detections
from yolo_lib.postprocess import box_iou

# %% [markdown]
# ## 1. NMS step by step
#
# Neighbouring anchors see the same object, so a trained detector fires several overlapping
# boxes per object. Greedy NMS sorts the candidates by score; it keeps the best one, removes
# every remaining candidate **of the same class** that overlaps it with IoU > 0.7, and repeats
# with the best survivor. Boxes of different classes never suppress each other (class-aware NMS).
#
# Below: two people and a phone, each seen by a few jittered candidates. Each panel is one step:
# the kept box (solid), the boxes it suppresses (dashed red), the rest still waiting (grey).

# %%
rng = np.random.default_rng(0)
objects = np.array([[40, 60, 140, 300], [170, 40, 280, 310], [120, 150, 150, 200]], np.float32)
object_class = np.array([0, 0, 1])  # person, person, phone
cand, cand_cls, cand_score = [], [], []
for box, c in zip(objects, object_class):
    size = box[2:] - box[:2]
    for k in range(4):
        jitter = rng.normal(0, 0.05, 4) * np.concatenate([size, size]) if k else np.zeros(4)
        cand.append(box + jitter)
        cand_cls.append(c)
        cand_score.append(0.9 - 0.12 * k - 0.05 * c + rng.uniform(-0.02, 0.02))
cand, cand_cls, cand_score = np.array(cand, np.float32), np.array(cand_cls), np.array(cand_score)
IOU_T = 0.7


def nms_steps(boxes, scores, classes, iou_t):
    """Greedy class-aware NMS, recording (kept index, suppressed indices, remaining) per step."""
    order = list(np.argsort(-scores))
    steps = []
    while order:
        best, order = order[0], order[1:]
        same = [j for j in order if classes[j] == classes[best]]
        ious = box_iou(boxes[best][None], boxes[same])[0] if same else np.zeros(0)
        gone = [j for j, v in zip(same, ious) if v > iou_t]
        order = [j for j in order if j not in gone]
        steps.append((best, gone, list(order)))
    return steps


steps = nms_steps(cand, cand_score, cand_cls, IOU_T)
colours = ["tab:orange", "tab:cyan"]
n_panels = min(len(steps), 4) + 1
fig, axes = plt.subplots(1, n_panels, figsize=(3.2 * n_panels, 3.4))
kept = []
for p, ax in enumerate(axes):
    ax.set_xlim(0, 320), ax.set_ylim(330, 0), ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
    if p == 0:
        for b, c in zip(cand, cand_cls):
            ax.add_patch(Rectangle(b[:2], *(b[2:] - b[:2]), fill=False, color=colours[c], lw=1))
        ax.set_title(f"{len(cand)} candidates", fontsize=9)
        continue
    if p == n_panels - 1 and len(steps) > n_panels - 1:
        kept = [s[0] for s in steps]
        for i in kept:
            b = cand[i]
            ax.add_patch(Rectangle(b[:2], *(b[2:] - b[:2]), fill=False, color=colours[cand_cls[i]], lw=2.5))
        ax.set_title(f"result: {len(kept)} boxes kept", fontsize=9)
        continue
    best, gone, waiting = steps[p - 1]
    kept.append(best)
    for j in waiting:
        ax.add_patch(Rectangle(cand[j][:2], *(cand[j][2:] - cand[j][:2]), fill=False, color="grey", lw=0.7))
    for j in gone:
        ax.add_patch(Rectangle(cand[j][:2], *(cand[j][2:] - cand[j][:2]), fill=False, color="red", ls="--", lw=1))
    for i in kept:
        ax.add_patch(Rectangle(cand[i][:2], *(cand[i][2:] - cand[i][:2]), fill=False, color=colours[cand_cls[i]], lw=2.5))
    ax.set_title(f"step {p}: keep {cand_score[best]:.2f}, drop {len(gone)}", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# For evaluation we use NMS as Ultralytics' validator does: score threshold **0.001** (almost
# everything: AP integrates over all thresholds, so low-score boxes still add recall), IoU
# 0.7, at most 300 boxes per image, and **multi-label**: an anchor whose person score and phone
# score both exceed 0.001 yields two candidates, one per class. `yolo_lib.postprocess` does both
# flavours; the result of the greedy loop is checked against our library here.

# %%
from yolo_lib.postprocess import batched_nms

lib_keep = batched_nms(cand, cand_score, cand_cls, IOU_T)
assert sorted(lib_keep.tolist()) == sorted(s[0] for s in steps)
print("kept by the step-by-step loop and by yolo_lib.postprocess.batched_nms:", sorted(lib_keep.tolist()))

# %% [markdown]
# ## 2. IoU and matching
#
# IoU (intersection over union) of two boxes is the area they share divided by the area they
# cover together: 1 for identical boxes, 0 for disjoint ones. Shifting a 100 x 100 box
# sideways by d pixels gives IoU = (100 - d) / (100 + d), so IoU 0.5 is already a shift of a
# third of the box.
#
# Matching, per image and per class, goes through the detections **best score first**; each
# takes the labelled box with the highest IoU among those not yet taken, if that IoU >= t. A
# second detection of an already-found object is a false positive: duplicates are punished.

# %%
def shifted(iou, size=100.0, x=0.0, y=0.0):
    """A size x size box at (x, y) shifted right so that its IoU with the unshifted box is `iou`."""
    d = size * (1 - iou) / (1 + iou)
    return [x + d, y, size, size]


def xyxy(b):
    return np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]]], np.float32)


gt_box = [0.0, 0.0, 100.0, 100.0]
for target in (0.95, 0.75, 0.5, 0.3):
    iou = box_iou(xyxy(gt_box), xyxy(shifted(target)))[0, 0]
    print(f"shift {100 * (1 - target) / (1 + target):5.1f} px -> IoU {iou:.3f}")
    assert abs(iou - target) < 1e-4


def match(dets, gts, t):
    """Greedy matching of one image and class: dets [(box, score)], gts [box] (xywh) -> TP flags
    in score order."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])
    taken, tp = set(), []
    for i in order:
        best, best_iou = None, t
        for g, gb in enumerate(gts):
            v = box_iou(xyxy(dets[i][0]), xyxy(gb))[0, 0]
            if g not in taken and v >= best_iou:
                best, best_iou = g, v
        if best is not None:
            taken.add(best)
        tp.append(best is not None)
    return [dets[i][1] for i in order], tp


scores, tp = match([(shifted(0.9), 0.8), (shifted(0.6), 0.7), (shifted(0.95), 0.6)], [gt_box], 0.5)
print("one object, three detections (IoU 0.9, 0.6, 0.95) at scores", scores, "-> TP flags", tp)
assert tp == [True, False, False], "greedy by score: the best-scored match takes the object, the rest are FPs"

# %% [markdown]
# The detection at IoU 0.95 is the best box but comes third by score: the 0.8 detection claims
# the object first, and the others become false positives. Scores decide, not IoU.
#
# ## 3. A precision-recall curve by hand
#
# A worked example: three images with five people, eight detections. After matching at IoU 0.5,
# sort all detections of the class by score. Going down the list, each TP raises recall
# (found / labelled) and each FP lowers precision (TP / detections so far).

# %%
images = {1: [[10, 10, 100, 100], [200, 50, 80, 150]], 2: [[30, 30, 60, 120]], 3: [[0, 0, 50, 50], [100, 100, 90, 90]]}
detections = [  # (image, box, score): exact copies are TPs, boxes elsewhere are FPs
    (1, [10, 10, 100, 100], 0.95), (2, [400, 400, 30, 30], 0.90), (1, [200, 50, 80, 150], 0.85),
    (3, [0, 0, 50, 50], 0.70), (3, [300, 10, 40, 40], 0.60), (1, [12, 12, 98, 98], 0.50),
    (2, [30, 30, 60, 120], 0.40), (3, [200, 300, 20, 20], 0.30),
]
flags = {}
for img, gts in images.items():
    dets = [(b, s) for i, b, s in detections if i == img]
    for s, f in zip(*match(dets, gts, 0.5)):
        flags[(img, s)] = f
rows = sorted(((s, flags[(i, s)]) for i, _, s in detections), key=lambda r: -r[0])
n_gt = sum(len(v) for v in images.values())
tp_cum = np.cumsum([f for _, f in rows])
fp_cum = np.cumsum([not f for _, f in rows])
precision, recall = tp_cum / (tp_cum + fp_cum), tp_cum / n_gt
print(" rank  score  TP?  cumTP cumFP  precision  recall")
for k, ((s, f), p, r) in enumerate(zip(rows, precision, recall), 1):
    print(f"{k:5d}  {s:5.2f}  {'TP' if f else 'FP':3s}  {tp_cum[k - 1]:5d} {fp_cum[k - 1]:5d}  {p:9.3f}  {r:6.2f}")

# %% [markdown]
# Note rank 6: a second box on the image-1 person found at rank 1. Its IoU with that person is
# 0.96, but the person is taken, so it is a duplicate: a false positive.
#
# The raw curve zig-zags (every FP drops precision). AP uses the **precision envelope**: at
# each recall, the best precision reachable at that recall *or higher*, a staircase that only
# goes down. COCO samples the envelope at **101 recall points** 0.00, 0.01, ..., 1.00 (the
# precision at the first rank reaching that recall; 0 where the recall is never reached) and
# averages them.

# %%
envelope = np.maximum.accumulate(precision[::-1])[::-1]
rec_points = np.linspace(0, 1, 101)
idx = np.searchsorted(recall, rec_points, side="left")
sampled = np.array([envelope[i] if i < len(envelope) else 0.0 for i in idx])
ap_101 = sampled.mean()

gt_json = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in images],
           "categories": [{"id": 1, "name": "person"}],
           "annotations": [{"id": k, "image_id": i, "category_id": 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
                           for k, (i, b) in enumerate(((i, b) for i, bs in images.items() for b in bs), 1)]}
results = [{"image_id": i, "category_id": 1, "bbox": b, "score": s} for i, b, s in detections]
coco = score_detections(gt_json, results, [1])
print(f"AP50 by hand (101 points): {ap_101:.6f}")
print(f"AP50 from pycocotools    : {coco.per_class[1]['AP50']:.6f}")
assert abs(ap_101 - coco.per_class[1]["AP50"]) < 1e-9

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(np.r_[0, recall], np.r_[1, precision], "o-", color="grey", label="raw precision after each detection")
ax.step(recall, envelope, where="pre", color="tab:blue", lw=2, label="envelope (max precision to the right)")
ax.plot(rec_points, sampled, ".", color="tab:red", ms=3, label=f"101 sampled points, mean = AP = {ap_101:.3f}")
ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05), title="precision-recall, IoU 0.5")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# ### Why 101 points?
#
# The envelope is a staircase, so its exact area ("all points", PASCAL VOC since 2010) is easy
# to compute too. VOC 2007 sampled **11** points (0, 0.1, ..., 1): coarse, so one detection
# more or less could move AP by several points. COCO's **101** points are fine enough to be
# close to the exact area and give every class the same fixed grid, so per-class APs average
# cleanly. Ultralytics' own validator interpolates the envelope at 101 points and integrates
# with the trapezoid rule, a third variant. The same curve, four numbers:

# %%
def ap_sampled(points):
    grid = np.linspace(0, 1, points)
    i = np.searchsorted(recall, grid, side="left")
    return float(np.mean([envelope[j] if j < len(envelope) else 0.0 for j in i]))


mrec, mpre = np.r_[0.0, recall, 1.0], np.r_[1.0, precision, 0.0]
mpre = np.maximum.accumulate(mpre[::-1])[::-1]
area = float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))
x = np.linspace(0, 1, 101)
y = np.interp(x, mrec, mpre)
trapezoid = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
print(f"11 points (VOC 2007)        : {ap_sampled(11):.4f}")
print(f"101 points (COCO)           : {ap_sampled(101):.4f}")
print(f"exact area (VOC 2010+)      : {area:.4f}")
print(f"101-point trapezoid (Ultralytics): {trapezoid:.4f}")

# %% [markdown]
# ## 4. Crowd boxes
#
# COCO marks a box around a dense group that cannot be labelled person by person as
# `iscrowd=1`. A detection matched to a crowd box is **ignored**: neither a true nor a false
# positive, and a crowd box is never a miss. Without that rule a good detector would be
# punished for finding people inside crowds. COCO128 has 10 such boxes; our evaluator keeps
# them in the ground truth so the numbers mean what COCO numbers mean (training data may drop
# them). Below, one person and one crowd, with a confident detection on the crowd:

# %%
person, crowd = [10, 10, 60, 120], [200, 40, 300, 200]
for flag in (1, 0):
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
          "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": person, "area": 7200, "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": crowd, "area": 60000, "iscrowd": flag}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [205, 45, 150, 150], "score": 0.95},
            {"image_id": 1, "category_id": 1, "bbox": person, "score": 0.9}]
    s = score_detections(gt, dets, [1])
    print(f"iscrowd={flag}: AP50 = {s.stats['mAP50']:.3f}  "
          + ("(the 0.95 box lies inside the crowd: ignored)" if flag else "(now it is a false positive and the big box a miss)"))

# %% [markdown]
# COCOeval matches a detection to a crowd box by the share of the *detection* inside the crowd
# (intersection / detection area), not by IoU, and only when no regular box is left to match.
# Ultralytics' validator has no crowd handling; on COCO val this alone moves mAP by a few
# tenths of a point (ultralytics issue 17270), so the numbers we report are COCOeval's.
#
# ## 5. What mAP50-95 means
#
# AP at IoU 0.5 accepts a box that is a third of its width off. COCO's headline number averages
# AP over **ten** IoU thresholds, 0.50, 0.55, ..., 0.95, and over the classes: a box is rewarded
# more the tighter it is. Four people found with IoU 0.96, 0.82, 0.66 and 0.52: at t = 0.5 all
# four are TPs (AP 1), at t = 0.95 only one is.

# %%
gts = [[0, 200 * k, 100, 100] for k in range(4)]
found = [0.96, 0.82, 0.66, 0.52]
gt4 = {"images": [{"id": 1, "file_name": "a.jpg", "width": 1000, "height": 1000}],
       "categories": [{"id": 1, "name": "person"}],
       "annotations": [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": g, "area": 1e4, "iscrowd": 0}
                       for k, g in enumerate(gts)]}
dets4 = [{"image_id": 1, "category_id": 1, "bbox": shifted(v, y=g[1]), "score": 0.9 - 0.1 * k}
         for k, (v, g) in enumerate(zip(found, gts))]
thresholds = np.linspace(0.5, 0.95, 10)
per_t = []
for t in thresholds:
    tp = np.array([v >= t for v in found])  # sorted by score already; each det overlaps only its own box
    tpc, fpc = np.cumsum(tp), np.cumsum(~tp)
    prec, rec = tpc / (tpc + fpc), tpc / len(gts)
    env = np.maximum.accumulate(prec[::-1])[::-1]
    i = np.searchsorted(rec, np.linspace(0, 1, 101), side="left")
    per_t.append(np.mean([env[j] if j < len(env) else 0.0 for j in i]))
s = score_detections(gt4, dets4, [1])
print(f"mAP50-95 by hand: {np.mean(per_t):.4f}, pycocotools: {s.stats['mAP50_95']:.4f}; "
      f"mAP50 {s.stats['mAP50']:.3f}, mAP75 {s.stats['mAP75']:.3f}")
assert abs(np.mean(per_t) - s.stats["mAP50_95"]) < 1e-9
plt.figure(figsize=(6, 3))
plt.bar([f"{t:.2f}" for t in thresholds], per_t, color="tab:blue")
plt.axhline(np.mean(per_t), color="black", ls="--", label=f"mean = mAP50-95 = {np.mean(per_t):.3f}")
plt.xlabel("IoU threshold"), plt.ylabel("AP"), plt.legend(), plt.title("AP per IoU threshold")
plt.show()

# %% [markdown]
# ## 6. The evaluator on a real set
#
# `yolo_lib.evaluate.Evaluator` puts it together: COCO json + image folder in, letterbox
# (no augmentation, grey 114), the compiled forward (once per input shape, batched), multi-label
# NMS, boxes mapped back to the original pixels, a COCO results list, COCOeval. Class indices
# are matched to the annotation categories **by name**. The same runs on the command line:
#
# ```bash
# python -m yolo_lib.evaluate WEIGHTS.npz --annotations instances.json --images DIR --imgsz 320 --out runs/eval
# ```
#
# Which weights and set this cell uses: the seven COCO photographs shipped with the repository
# (`yolo_lib.data.coco_photos`, persons and phones, a crowd box among them), scored with the
# Ultralytics reference's weights, a YOLO11n **with random weights** (person and cell phone): a
# score near zero is the right answer, and the pictures show what the numbers are made of.
# Notebook 10 trains a model and scores it with exactly this class every epoch.

# %%
from yolo_lib import weights
from yolo_lib.weights import reference
from yolo_lib.data import coco_photos
from yolo_lib.evaluate import Evaluator
from yolo_lib.paths import data_dir

names = ["person", "cell phone"]
ref = reference.load()
model = weights.model_from_state_dict(ref.state_dict())
print(f"weights: the random initialisation of the {ref.source}; set: {len(coco_photos.file_names())} COCO photographs")

ev = Evaluator(coco_photos.ANNOTATIONS, coco_photos.IMAGES, names, imgsz=PROFILE.imgsz, batch=16)
summary = ev.evaluate(model)
print(json.dumps({k: summary[k] for k in ("mAP50_95", "mAP50", "mAP75", "AR100", "precision", "recall",
                                          "images", "detections", "seconds", "images_per_second", "engine")}, indent=1))
print("per class:", json.dumps(summary["per_class"]))
print("annotation categories the model cannot predict (not in the mean):",
      len(summary["categories_without_model_class"]))

# %%
out = data_dir() / "runs" / "eval_notebook"
for path in ev.save_pictures(out):
    img = plt.imread(path)
    plt.figure(figsize=(12, 12 * img.shape[0] / img.shape[1]))
    plt.imshow(img), plt.axis("off"), plt.title(path.name)
    plt.show()

# %% [markdown]
# ## Takeaway
#
# - NMS keeps one box per object and class; for evaluation the score threshold is tiny (0.001)
#   and every class above it counts (multi-label), because AP integrates over all thresholds.
# - Matching is greedy by score; duplicates are false positives; crowd boxes are ignored.
# - AP is the mean of the precision envelope at 101 recall points; mAP50-95 averages it over the
#   classes and ten IoU thresholds, so tight boxes pay.
# - `python -m yolo_lib.evaluate` reports COCOeval's numbers (what papers quote); its parity
#   with pycocotools on Ultralytics' own predictions is recorded in `docs/benchmarks.md`.
# - `--engine` picks what runs the model: the compiled JAX function or its ONNX export in
#   onnxruntime (faster on a CPU); the default takes onnxruntime on a CPU, JAX on a GPU.

#
# ## What to try next
#
# * Change `IOU_T` in the NMS example and see which boxes survive.
# * Add a third detection inside the crowd box of the crowd example: does AP50 change?
# * Score the photographs with the pretrained `yolo11n.pt` (`python -m yolo_lib.data
#   download-weights`): `model = pretrained.choose_weights().model()` (`from yolo_lib.weights import pretrained`) before the
#   evaluator.
