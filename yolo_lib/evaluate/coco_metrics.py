"""Score COCO-format detections with COCOeval, plus the per-class numbers we report.

* COCOeval (the reference for published COCO numbers): AP over IoU 0.50:0.05:0.95 from a
  precision envelope sampled at 101 recall points, at most 100 detections per image, and
  detections matched to ``iscrowd`` boxes ignored (neither true nor false positives).
  ``scorer="pycocotools"`` (the reference, the default here) or ``"faster-coco-eval"`` (the
  same algorithm in C++, several times faster; the evaluator uses it): identical statistics
  and precision arrays, checked by ``tests/test_evaluate.py``.
* Per class: AP50-95 and AP50 read from COCOeval's precision array ``[T, R, K, A, M]``.
* Precision and recall at the confidence of the best mean F1 (as Ultralytics logs them): from
  COCOeval's own IoU-0.5 matches (crowd-ignored detections left out; faster-coco-eval does not
  expose its matches, so pycocotools then matches again, for IoU 0.5 and area "all" only), each
  class's precision and recall as functions of the confidence on a 1000-point grid, F1
  averaged over classes (unsmoothed), its best confidence, and the mean precision and recall
  there.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

#: Names of COCOeval's 12 summary statistics, in its order.
STAT_NAMES = ("mAP50_95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large",
              "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


@dataclass
class CocoScores:
    """What :func:`score_detections` measured; ``None`` = undefined (no ground truth)."""

    stats: dict[str, float | None]
    per_class: dict[int, dict]  # category id -> {"AP50_95", "AP50", "instances"}
    precision: float | None
    recall: float | None
    confidence: float | None
    #: IoU-0.5 interpolated precision at the 101 recall points, per category id (for the PR plot)
    pr_curves: dict[int, np.ndarray]


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def coco_index(dataset: dict):
    """A pycocotools COCO object over an in-memory instances dict (no printing)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with _quiet():
        coco.createIndex()
    return coco


def _defined(x: float) -> float | None:
    return None if x < 0 or not np.isfinite(x) else float(x)


#: The COCOeval implementations :func:`score_detections` can run.
SCORERS = ("pycocotools", "faster-coco-eval")


def score_detections(gt: dict, results: list[dict], category_ids: list[int],
                     scorer: str = "pycocotools") -> CocoScores:
    """COCOeval (bbox) of ``results`` (COCO results list) against the instances dict ``gt``.

    Only ``category_ids`` are scored; every image of ``gt`` is scored (images without
    detections count as misses). Crowd annotations stay in and are handled by COCOeval.
    ``scorer``: see the module docstring.
    """
    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")
    detections = {"images": gt["images"], "categories": gt["categories"], "annotations": _as_annotations(results)}
    image_ids = sorted(i["id"] for i in gt["images"])
    coco_gt, coco_dt = coco_index(gt), coco_index(detections)
    if scorer == "pycocotools":
        from pycocotools.cocoeval import COCOeval

        ev = COCOeval(coco_gt, coco_dt, "bbox")
    else:
        from faster_coco_eval import COCO, COCOeval_faster

        fast_gt, fast_dt = COCO(), COCO()
        fast_gt.dataset, fast_dt.dataset = gt, detections
        with _quiet():
            fast_gt.createIndex()
            fast_dt.createIndex()
        ev = COCOeval_faster(fast_gt, fast_dt, "bbox", print_function=lambda *_: None)
    ev.params.catIds, ev.params.imgIds = list(category_ids), image_ids
    with _quiet():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [T, R, K, A, M]: IoU, recall point, class, area, max dets
    per_class, curves = {}, {}
    instances = _instances(coco_gt, category_ids)
    for k, cat in enumerate(category_ids):
        p = precision[:, :, k, 0, -1]
        per_class[cat] = {"AP50_95": _defined(p[p > -1].mean()) if (p > -1).any() else None,
                          "AP50": _defined(p[0][p[0] > -1].mean()) if (p[0] > -1).any() else None,
                          "instances": instances[cat]}
        curves[cat] = np.where(p[0] > -1, p[0], np.nan)
    matched = ev if scorer == "pycocotools" else _matches_at_iou50(coco_gt, coco_dt, category_ids, image_ids)
    prec, rec, conf = _best_f1(matched, category_ids)
    stats = {name: _defined(v) for name, v in zip(STAT_NAMES, ev.stats)}
    return CocoScores(stats, per_class, prec, rec, conf, curves)


def _matches_at_iou50(coco_gt, coco_dt, category_ids, image_ids):
    """pycocotools' per-image matching at IoU 0.5, area "all", 100 detections (``evalImgs``).

    The same matches as row 0, area "all" of the full COCOeval (each threshold and area is
    matched on its own), for a tenth of the thresholds and a quarter of the areas.
    """
    from pycocotools.cocoeval import COCOeval

    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.params.catIds, ev.params.imgIds = list(category_ids), image_ids
    ev.params.iouThrs = np.array([0.5])
    ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [ev.params.areaRng[0]], ["all"], [100]
    with _quiet():
        ev.evaluate()
    return ev


def _as_annotations(results: list[dict]) -> list[dict]:
    """COCO results -> annotation entries pycocotools can index (what ``loadRes`` adds)."""
    anns = []
    for i, r in enumerate(results, 1):
        x, y, w, h = r["bbox"]
        anns.append({**r, "id": i, "area": w * h, "iscrowd": 0})
    return anns


def _instances(coco_gt, category_ids) -> dict[int, int]:
    counts = {c: 0 for c in category_ids}
    for a in coco_gt.dataset["annotations"]:
        if a["category_id"] in counts and not a.get("iscrowd", 0):
            counts[a["category_id"]] += 1
    return counts


def _best_f1(ev, category_ids) -> tuple[float | None, float | None, float | None]:
    """Mean precision and recall at the confidence of the best mean F1 (IoU 0.5, area all).

    ``ev``: an evaluated pycocotools COCOeval whose first IoU threshold is 0.5 and first area "all".
    """
    grid = np.linspace(0, 1, 1000)
    n_img, n_area = len(ev.params.imgIds), len(ev.params.areaRng)
    ps, rs = [], []
    for k, _ in enumerate(category_ids):
        scores, tps, n_gt = [], [], 0
        for e in ev.evalImgs[k * n_area * n_img:k * n_area * n_img + n_img]:  # area "all" comes first
            if e is None:
                continue
            keep = ~e["dtIgnore"][0].astype(bool)
            scores.append(np.asarray(e["dtScores"])[keep])
            tps.append(e["dtMatches"][0][keep] > 0)
            n_gt += int((~e["gtIgnore"].astype(bool)).sum())
        if n_gt == 0:
            continue
        s = np.concatenate(scores) if scores else np.zeros(0)
        tp = np.concatenate(tps) if tps else np.zeros(0, bool)
        order = np.argsort(-s, kind="mergesort")
        s, tp = s[order], tp[order]
        tpc, fpc = np.cumsum(tp), np.cumsum(~tp)
        recall = tpc / n_gt
        precision = tpc / np.maximum(tpc + fpc, 1)
        # recall and precision as functions of the confidence threshold (scores decrease)
        rs.append(np.interp(-grid, -s, recall, left=0) if len(s) else np.zeros_like(grid))
        ps.append(np.interp(-grid, -s, precision, left=1) if len(s) else np.ones_like(grid))
    if not rs:
        return None, None, None
    p, r = np.mean(ps, 0), np.mean(rs, 0)
    f1 = np.mean([2 * pi * ri / np.maximum(pi + ri, 1e-16) for pi, ri in zip(ps, rs)], 0)
    i = int(np.argmax(f1))
    return float(p[i]), float(r[i]), float(grid[i])
