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
# # 07 · The loss: which anchor learns which box, and how much it is punished
#
# A detector outputs a prediction at every anchor, 2100 of them at 320x320. Training needs to
# decide, for every ground-truth box, *which* anchors should predict it (the **assignment**), and
# then how far each prediction is from its target (the **loss**). YOLO11 uses Ultralytics'
# `v8DetectionLoss`: a task-aligned assigner, then three terms, binary cross entropy on the
# classes, CIoU on the boxes and the distribution focal loss (DFL) on the box-side distributions.
#
# Everything here is symbolic PyTensor (`yolo_lib.loss`), so the assignment, the loss and its
# gradient compile into the same JAX program as the model. We take it apart piece by piece and
# finish by comparing the loss with the numbers Ultralytics computed on the same inputs.
#
# **Goal:** know which anchors learn which box and why, what each of the three loss terms
# measures, and see our loss agree with Ultralytics' to 1e-4; you write CIoU and the assigner's
# alignment metric yourself (exercises 8 and 9).

# %%
from yolo_lib.notebook.profile import start

PROFILE = start()

# %%

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from yolo_lib.data import coco_photos
from yolo_lib.data.letterbox import boxes_to_letterbox, letterbox_image
from yolo_lib.loss import from_image_lists, from_rows, make_anchors
from yolo_lib.weights import reference
from yolo_lib.loss.inspection import loss_on_heads
from yolo_lib.parity.loss import zero_alignment_tie_picks

REF = reference.load(verbose=True)  # the shared fixture (320 px) when present, else the compact one (128 px)
IMGSZ = REF["input/img"].shape[-1]  # the reference's size; the loss works for any multiple of 32

# %% [markdown]
# ## Anchors and strides
#
# The head predicts on three grids: P3 (stride 8), P4 (stride 16) and P5 (stride 32). At 320 px
# that is 40x40, 20x20 and 10x10 cells, 2100 anchors; at the compact reference's 128 px,
# 16x16, 8x8 and 4x4, 336 anchors (the cell prints the counts at the reference's size). An
# **anchor** is the centre of one cell. Flattened P3 first, then P4, then P5, each row by row,
# they give the anchors; `make_anchors` returns their centres in grid units and the stride of
# each, so `points * stride` is in pixels. The photograph is one of the COCO images shipped in
# `yolo_lib/weights/reference_data/coco_photos` (each under its own licence, printed below it).

# %%
points, stride = make_anchors((IMGSZ, IMGSZ))
centres = points * stride
print(f"{IMGSZ}x{IMGSZ} px: anchors:", len(points), "| per level:", [int((stride == s).sum()) for s in (8, 16, 32)])
print("first anchors (px):", centres[:3].tolist(), "... first P4:", centres[(IMGSZ // 8) ** 2].tolist())

phones = coco_photos.photo()  # three people on the phone, with COCO's boxes
photo, photo_lb = letterbox_image(phones.image, IMGSZ)
print("photo:", phones.credit)

fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
for ax, s, colour in zip(axes, (8, 16, 32), ("tab:red", "tab:orange", "tab:cyan")):
    sel = stride[:, 0] == s
    ax.imshow(photo)
    ax.scatter(centres[sel, 0], centres[sel, 1], s=40 / s * 2, c=colour)
    ax.set_xticks(np.arange(0, IMGSZ + 1, s * (4 if s == 8 else 1)))
    ax.set_title(f"stride {s}: {sel.sum()} anchors")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The inputs: raw head outputs and padded targets
#
# The loss reads the head's **raw** outputs: per level, box logits (B, 64, H, W), that is 16
# bins for each of the four box sides (left, top, right, bottom), and class logits (B, nc, H, W).
# We use the very tensors Ultralytics produced for the reference (a random-initialised YOLO11n
# with nc=2 on two images of the reference's size, printed above), so every number below can be
# compared with theirs.
#
# Ground truth varies in length per image, but a compiled step needs fixed shapes: `from_rows`
# packs the boxes into `max_boxes` slots per image with a validity mask (an image without boxes
# simply has an empty mask).

# %%
MODE = "train"  # head outputs of the train-mode forward (BN on batch statistics)
ref = REF
box_maps = [ref[f"{MODE}/box_raw_{p}"] for p in ("P3", "P4", "P5")]
cls_maps = [ref[f"{MODE}/cls_raw_{p}"] for p in ("P3", "P4", "P5")]
rows = ref["input/targets_bidx_cls_xywhn"]
targets = from_rows(rows, batch_size=2)
print("boxes (B, M, 4):", targets.boxes.shape, "| valid slots per image:", targets.mask.sum(1))
print("classes:\n", targets.classes)

# %% [markdown]
# ## Task-aligned assignment
#
# For every ground-truth box (gt) the assigner, running without gradient:
#
# 1. takes as **candidates** the anchors whose centre lies strictly inside the gt. A gt side
#    shorter than 16 px (the second stride) is stretched to 16 px about its centre for this test
#    only, so tiny objects still get anchors (both references hold such boxes: 6x10 px in the
#    shared fixture, 6x5 px in the compact one). This floor
#    is new in Ultralytics 8.4; 8.3.x has none, and there a gt smaller than a cell can end up
#    with no candidate at all;
# 2. scores each candidate with the **alignment** $t = s^{0.5}\, u^{6}$, with $s$ the predicted
#    probability of the gt's class and $u$ the CIoU between the predicted and the gt box;
# 3. keeps the **top 10** candidates by $t$ (a gt with fewer than 10 candidates of $t > 0$ fills
#    its top 10 with candidates of $t = 0$: `torch.topk` picks among those ties arbitrarily, we
#    take the lowest anchor indices; such a positive gets target score 0 and changes no loss);
# 4. gives an anchor claimed by several gts to the one it overlaps most (largest CIoU);
# 5. sets the **target score** of a positive to its alignment, rescaled per gt so that the best
#    positive gets that gt's best CIoU. Early in training CIoUs are small, so targets are soft.
#
# Said plainly: **the classification target of a positive anchor is not 1.** It is a number
# between 0 and 1 for the gt's class (0 for the other classes, and 0 for every class of a
# negative anchor), equal to how well that anchor's *predicted box* already fits the gt, scaled
# so that the best anchor of the gt gets the best CIoU. The BCE then teaches the class score to
# predict box quality, so at inference a high score means "right class *and* a good box". The
# cell after the figure prints a few of these targets.

# %%
res = loss_on_heads(box_maps, cls_maps, targets)
for b in range(targets.batch_size):
    print(f"image {b}: {int(res['fg_mask'][b].sum())} positive anchors")
for b, m in zip(*np.nonzero(targets.mask)):
    print(f"  gt {m} of image {b} (class {targets.classes[b, m]}): candidates {int(res['candidates'][b, m].sum()):3d}, "
          f"positives {int((res['fg_mask'][b] & (res['gt_idx'][b] == m)).sum()):2d}, "
          f"best CIoU {res['overlaps'][b, m].max():.3f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 6.5))
colours = plt.cm.tab10.colors
for b, ax in enumerate(axes):
    ax.imshow(ref["input/img"][b].transpose(1, 2, 0) * 0.35 + 0.65)
    for m in np.nonzero(targets.mask[b])[0]:
        c = colours[m % 10]
        cx, cy, w, h = targets.boxes[b, m] * IMGSZ
        ax.add_patch(Rectangle((cx - w / 2, cy - h / 2), w, h, fill=False, ec=c, lw=2))
        cand = res["candidates"][b, m]
        top = res["topk_mask"][b, m] & cand
        pos = res["fg_mask"][b] & (res["gt_idx"][b] == m)
        ax.scatter(*centres[cand].T, s=6, color=c, alpha=0.35)
        ax.scatter(*centres[top].T, s=70, facecolors="none", edgecolors=c, lw=1.5)
        ax.scatter(*centres[pos].T, s=18, color=c, marker="x")
    ax.set_title(f"image {b}: dots = candidates, circles = top-10, x = positives")
    ax.set_xlim(0, IMGSZ), ax.set_ylim(IMGSZ, 0)
plt.tight_layout()
plt.show()

# %%
pos_b, pos_a = np.nonzero(res["fg_mask"])
print("target scores (the BCE targets) of the first positives, per class:")
for b, a in list(zip(pos_b, pos_a))[:6]:
    print(f"  image {b} anchor {a:4d}: [{', '.join(f'{v:.4f}' for v in res['scores'][b, a])}]  "
          f"(gt class {targets.classes[b, res['gt_idx'][b, a]]})")
print(f"largest target score in the batch: {res['scores'].max():.4f} (a hard one-hot target would be 1)")

# %% [markdown]
# Candidates cover the whole inside of each box and all three levels; the top-10 picks cluster
# where the (still random) network's boxes happen to overlap the gt best. Where a top-10 circle
# has no cross, that anchor was claimed by another gt with a larger overlap.
#
# ## CIoU, term by term
#
# Complete IoU adds two penalties to IoU: the squared distance of the centres over the squared
# diagonal of the enclosing box, $\rho^2/c^2$, and an aspect-ratio term $v\,\alpha$ with
# $v = \frac{4}{\pi^2}(\arctan\frac{w_2}{h_2} - \arctan\frac{w_1}{h_1})^2$ and
# $\alpha = v / (1 - \mathrm{IoU} + v)$. Ultralytics computes $\alpha$ without gradient, so it
# acts as a weight, not as something to optimise; `ciou_terms` wraps it in `disconnected_grad`.
# Slide a 40x20 prediction across a 40x40 gt and watch the terms:

# %%
import pytensor
import pytensor.tensor as pt

from yolo_lib.loss.boxes import ciou_terms

b1, b2 = pt.matrix("pred", dtype="float32"), pt.matrix("gt", dtype="float32")
terms_fn = pytensor.function([b1, b2], list(ciou_terms(b1, b2)), mode="JAX")
shift = np.linspace(-60, 60, 121, dtype=np.float32)
pred = np.stack([100 + shift, np.full_like(shift, 110), 140 + shift, np.full_like(shift, 130)], 1)
gt = np.tile(np.array([[100, 100, 140, 140]], np.float32), (len(shift), 1))
iou, rho2, c2, v, alpha, ciou_v = (np.asarray(t) for t in terms_fn(pred, gt))
plt.figure(figsize=(7, 3.5))
plt.plot(shift, iou, label="IoU")
plt.plot(shift, rho2 / c2, label=r"$\rho^2/c^2$")
plt.plot(shift, v * alpha, label=r"$v\alpha$ (aspect)")
plt.plot(shift, ciou_v, "k", lw=2, label="CIoU")
plt.xlabel("horizontal shift of the prediction (px)"), plt.legend(), plt.grid(alpha=.3)
plt.show()

# %% [markdown]
# IoU is flat at zero once the boxes separate, so it gives no gradient there; the centre term
# keeps pulling. Even centred, IoU is only 0.5: a 40x20 box covers half of the 40x40 gt. The
# aspect term is small here ($v \approx 0.04$) and its weight $\alpha = v / (1 - \mathrm{IoU} + v)$
# grows as IoU grows: shape only starts to matter once the boxes overlap well.
#
# ## Exercise 8 · CIoU
#
# Write `ciou_np(box1, box2)` in numpy for N pairs of xyxy boxes (N, 4) → (N,), from the formula
# above, with Ultralytics' epsilons: eps = 1e-7 is added to both heights (w/h in the arctan),
# to the union and to $c^2$, and $\alpha = v / (v - \mathrm{IoU} + 1 + \mathrm{eps})$. The check
# compares with `yolo_lib.loss.boxes.ciou` on 40 pairs (including identical and disjoint boxes)
# and names the first pair that differs.


# %%
def ciou_np(box1, box2):
    """YOUR CODE: CIoU (N,) of xyxy boxes box1, box2 (N, 4)."""
    raise NotImplementedError("exercise 8: IoU - (rho^2 / c^2 + v * alpha)")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_ciou(box1, box2, eps=1e-7):
    """Solution of exercise 8."""
    import numpy as np

    (x1, y1, x2, y2), (u1, v1, u2, v2) = box1.T.astype(np.float64), box2.T.astype(np.float64)
    w1, h1, w2, h2 = x2 - x1, y2 - y1 + eps, u2 - u1, v2 - v1 + eps
    inter = np.clip(np.minimum(x2, u2) - np.maximum(x1, u1), 0, None) * np.clip(np.minimum(y2, v2) - np.maximum(y1, v1), 0, None)
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    c2 = (np.maximum(x2, u2) - np.minimum(x1, u1)) ** 2 + (np.maximum(y2, v2) - np.minimum(y1, v1)) ** 2 + eps
    rho2 = ((u1 + u2 - x1 - x2) ** 2 + (v1 + v2 - y1 - y2) ** 2) / 4
    v = 4 / np.pi**2 * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2
    alpha = v / (v - iou + 1 + eps)
    return iou - (rho2 / c2 + v * alpha)


# %%
from yolo_lib.notebook.exercises import check_alignment, check_ciou, run_exercise

run_exercise(check_ciou, ciou_np, solution_ciou);

# %% [markdown]
# ## Exercise 9 · the assigner's alignment metric
#
# Write `alignment_np(scores, ious, gt_labels, candidates)`: for A anchors, C classes and M gts,
# `scores` (A, C) are the predicted sigmoid scores, `ious` (M, A) the raw CIoU of every gt with
# every predicted box (it can be negative), `gt_labels` (M,) the gts' classes and `candidates`
# (M, A) the candidate mask. Return the alignment $t = s^{0.5} u^{6}$ (M, A), with $s$ the score of
# the gt's class, $u$ the CIoU clamped at 0, and 0 wherever the anchor is not a candidate. The
# check compares with `align` from `yolo_lib.loss.assigner.assign` on 64 anchors and 3 gts.


# %%
def alignment_np(scores, ious, gt_labels, candidates):
    """YOUR CODE: alignment metric (M, A)."""
    raise NotImplementedError("exercise 9: score of the gt's class ^ 0.5 times CIoU ^ 6, on candidates")


# %% tags=["solution"] jupyter={"source_hidden": true}
def solution_alignment(scores, ious, gt_labels, candidates, alpha=0.5, beta=6.0):
    """Solution of exercise 9."""
    import numpy as np

    class_scores = scores[:, gt_labels].T  # (M, A): score of each gt's class at every anchor
    overlaps = np.clip(ious, 0.0, None)
    return np.where(candidates, class_scores**alpha * overlaps**beta, 0.0)


# %%
run_exercise(check_alignment, alignment_np, solution_alignment);

# %% [markdown]
# ## DFL: a distribution per box side
#
# Each side's distance (in grid cells) is predicted as a distribution over the bins 0..15; the
# box uses its mean. The target distance $t$ sits between two bins, $\lfloor t \rfloor$ and
# $\lfloor t \rfloor + 1$, and the DFL is the cross entropy against that two-bin target, weighted
# by closeness. Here are the four sides of the best positive anchor of the first gt:

# %%
flat_logits = np.concatenate([m.reshape(m.shape[0], 64, -1) for m in box_maps], axis=2)  # (B, 64, A)
b = 0
pos = np.nonzero(res["fg_mask"][b] & (res["gt_idx"][b] == 0))[0]
a = pos[np.argmax(res["scores"][b, pos].sum(-1))]
logits = flat_logits[b, :, a].reshape(4, 16)
probs = np.exp(logits - logits.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)
x1, y1, x2, y2 = res["boxes"][b, a] / stride[a, 0]
px, py = points[a]
target = np.clip([px - x1, py - y1, x2 - px, y2 - py], 0, 14.99)
fig, axes = plt.subplots(1, 4, figsize=(14, 3), sharey=True)
for k, (ax, side) in enumerate(zip(axes, ("left", "top", "right", "bottom"))):
    two_bin = np.zeros(16)
    lo = int(np.floor(target[k]))
    two_bin[lo], two_bin[lo + 1] = lo + 1 - target[k], target[k] - lo
    ax.bar(np.arange(16) - .2, probs[k], .4, label="predicted")
    ax.bar(np.arange(16) + .2, two_bin, .4, label="DFL target")
    ax.axvline(target[k], color="k", ls=":")
    ax.set_title(f"{side}: target {target[k]:.2f}, mean {probs[k] @ np.arange(16):.2f}")
axes[0].legend()
plt.suptitle(f"anchor {a} (stride {int(stride[a, 0])}) of image {b}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The loss, next to Ultralytics'
#
# With tss = max(sum of all target scores, 1):
# cls = sum of BCE over all anchors and classes / tss; box = sum over positives of
# (1 - CIoU) x weight / tss and dfl likewise, where weight is the positive's target score.
# The items are scaled by the gains 7.5, 0.5 and 1.5, and the scalar that is back-propagated
# is batch_size x their sum. The reference holds Ultralytics' values for this very batch:

# %%
names = ("box (x7.5)", "cls (x0.5)", "dfl (x1.5)")
print(f"tss = {float(res['target_scores_sum']):.4f}, positives = {int(res['fg_mask'].sum())}")
summary = reference.loss_summary(ref, MODE)
theirs = [summary["box_loss"], summary["cls_loss"], summary["dfl_loss"], summary["total_backward"]]
ours = [*res["items"].tolist(), float(res["total"])]
print(f"{'term':<16}{'yolo_lib':>12}{'Ultralytics':>14}{'rel. diff':>12}")
for name, o, t in zip((*names, "total x batch"), ours, theirs):
    print(f"{name:<16}{o:>12.6f}{t:>14.6f}{abs(o / t - 1):>12.1e}")
assert max(abs(o / t - 1) for o, t in zip(ours, theirs)) < 1e-4
fg_ref, gt_ref = ref[f"{MODE}/tal_fg_mask"], ref[f"{MODE}/tal_target_gt_idx"]
tie, differs = zero_alignment_tie_picks(res, fg_ref, gt_ref)  # step 3's arbitrary picks among t = 0
scores_diff = np.abs(res["scores"] - ref[f"{MODE}/tal_target_scores"]).max()
print("assigner: fg mask and gt identical on every anchor but", int((tie & differs).sum()),
      f"zero-alignment ties | target scores max diff {scores_diff:.1e}")
assert not (differs & ~tie).any() and scores_diff <= 1e-4

# %% [markdown]
# ## The assignment on a real photograph
#
# Everything above runs on the reference's noise images, because that is what Ultralytics'
# numbers were computed from. Here the same assigner works on the photograph from the top, with
# its COCO boxes as the ground truth: three people, each holding a phone. The phones are tiny
# (a few pixels at this size), so they get their candidates only through the 16 px floor of step
# 1. `pretrained.choose_weights` picks the weights and prints which: with the pretrained
# `yolo11n.pt` downloaded (`python -m yolo_lib.data download-weights`) it runs at 320 px, and
# where its boxes fit, the target scores come close to 1; with the reference's untrained
# weights the predicted boxes are random, their CIoU with a gt is small, and so is every target
# score, which is exactly what the first epochs of training see. The check below the picture
# holds for any weights. Step 5 rescales a gt's alignments by its best CIoU u over its best
# alignment a, plus the assigner's eps of 1e-9: the largest target score of the gt is
# u * a / (a + 1e-9). For a well above 1e-9 that is the best CIoU; below it, next to nothing.
# A CIoU of 0.04 to the 6th power is 4e-9: an untrained model's phones fall below it, and their
# targets all but vanish. Small objects only start to teach once their boxes improve.

# %%
from yolo_lib.weights import pretrained
from yolo_lib.compilation.functions import eval_function

chosen = pretrained.choose_weights(REF)  # the downloaded yolo11n.pt, else the reference's random weights
size = 320 if chosen.trained else IMGSZ
image, lb = letterbox_image(phones.image, size)
gt_xyxy = boxes_to_letterbox(phones.boxes, lb) / size
gt_xywh = np.concatenate([(gt_xyxy[:, :2] + gt_xyxy[:, 2:]) / 2, gt_xyxy[:, 2:] - gt_xyxy[:, :2]], 1)
gts = from_image_lists([gt_xywh.tolist()], [phones.classes.tolist()])
heads = eval_function(chosen.model(), 1, size, size, outputs="all")((image / 255).astype(np.float32).transpose(2, 0, 1)[None])
res_p = loss_on_heads([heads[f"box_raw_P{i}"] for i in (3, 4, 5)], [heads[f"cls_raw_P{i}"] for i in (3, 4, 5)], gts)
pts_p, str_p = make_anchors((size, size))
class_names = ("person", "phone")
checked = 0
for m in range(len(phones.classes)):
    pos = np.nonzero(res_p["fg_mask"][0] & (res_p["gt_idx"][0] == m))[0]
    w_px, h_px = gt_xywh[m, 2:] * size
    line = (f"gt {m} ({class_names[phones.classes[m]]}, {w_px:3.0f}x{h_px:3.0f} px): "
            f"{int(res_p['candidates'][0, m].sum()):3d} candidates, {len(pos):2d} positives")
    if len(pos) == 0:  # every candidate went to another gt with a larger overlap
        print(line)
        continue
    u, a = res_p["overlaps"][0, m, pos].max(), res_p["align"][0, m, pos].max()
    top = res_p["scores"][0, pos, phones.classes[m]].max()
    print(f"{line}, best CIoU u {u:.3f}, best alignment a {a:.1e}, largest target score {top:.3f}")
    np.testing.assert_allclose(top, u * a / (a + 1e-9), rtol=1e-4, atol=1e-7)
    checked += 1
print(f"checked on {checked} gts: largest target score = u * a / (a + 1e-9)")

fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(image)
for m, (x1, y1, x2, y2) in enumerate(gt_xyxy * size):
    colour = ("lime", "magenta")[phones.classes[m]]
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=2))
    pos = res_p["fg_mask"][0] & (res_p["gt_idx"][0] == m)
    ax.scatter(*(pts_p * str_p)[pos].T, s=30, c=colour, marker="x")
ax.set_title(f"weights: {chosen.label}, {size} px\ngt boxes (person green, phone magenta), "
             "their positive anchors (x)", fontsize=9)
ax.axis("off")
plt.show()

# %% [markdown]
# The same comparison for the eval-mode head outputs, the assigner outputs and the gradient of
# every one of the 255 parameters is in `tests/test_loss_parity.py` and
# `tests/test_loss_gradients.py`, and in `python -m yolo_lib.parity`. The training step that puts
# all of this into one compiled function, with the SGD update, is `yolo_lib.train.step.TrainingStep`.
#
# ## Takeaway
#
# * The assigner picks, per gt, the top 10 candidate anchors by $s^{0.5} u^{6}$; the
#   classification target of a positive is that alignment rescaled to the gt's best CIoU, not 1.
# * The loss is BCE on the classes plus CIoU and DFL on the positives' boxes, weighted by the
#   target scores and divided by their sum; ours matches Ultralytics' to 1e-4, assignment included.
#
# ## What to try next
#
# * Change `MODE` to `"eval"` and rerun: the eval-mode head outputs give other positives.
# * Which gts of the photograph would have no candidate without the 16 px floor? Draw the
#   anchor centres of stride 8 inside each phone box (`pts_p * str_p`, `gt_xyxy * size`).
# * Try another photograph: `coco_photos.photo(name)` for a name in `coco_photos.file_names()`.
# * Download `yolo11n.pt` and rerun the last section: how close to 1 do the targets get?
