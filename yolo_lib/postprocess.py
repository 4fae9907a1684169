"""Turn the detector's inference output into detections: threshold, class-aware NMS (numpy, numba).

The inference output (of PyTensor or of the exported ONNX model) is ``(B, 4+nc, A)``: per
anchor cx, cy, w, h in input pixels, then nc sigmoid class scores. As Ultralytics' ``predict``
does by default, each anchor keeps its best class; anchors below ``conf`` are dropped; boxes of
the same class that overlap with IoU > ``iou`` are suppressed, keeping the higher score.
Detections are rows ``[x1, y1, x2, y2, score, class]`` float32 in input pixels.

``multi_label=True`` is what Ultralytics' validator does (evaluation: conf 0.001): every
(anchor, class) pair above ``conf`` is a candidate, so one anchor may give boxes of several
classes; the ``max_nms`` best candidates enter the class-aware NMS.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Ultralytics' predict defaults.
CONF_THRESHOLD, IOU_THRESHOLD, MAX_DETECTIONS = 0.25, 0.7, 300
#: Ultralytics' validator threshold (keep almost everything: AP integrates over all scores).
EVAL_CONF_THRESHOLD = 0.001
#: At most this many candidates (best scores first) enter NMS, as in Ultralytics.
MAX_NMS_CANDIDATES = 30000


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) centre x, y, width, height -> (..., 4) x1, y1, x2, y2."""
    b = np.asarray(boxes, dtype=np.float32)
    half = b[..., 2:] / 2
    return np.concatenate([b[..., :2] - half, b[..., :2] + half], axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes a (N, 4) against b (M, 4) -> (N, M).

    Written per coordinate on (N, M) planes (no (N, M, 2) temporaries); :func:`nms` does the
    same float32 arithmetic one pair at a time.
    """
    a, b = np.asarray(a), np.asarray(b)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0, out=iw)
    inter *= np.maximum(ih, 0, out=ih)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


@njit(cache=True, nogil=True)
def _greedy(ranked: np.ndarray, iou: np.float32, limit: int) -> np.ndarray:
    """Greedy NMS of xyxy boxes ``ranked`` (N, 4) float32, best score first: kept row positions.

    Row i is kept when no kept row before it overlaps it with IoU > ``iou``; stops after
    ``limit`` kept rows. Each IoU is the float32 arithmetic of :func:`box_iou`, operation for
    operation, so the decisions are those of the numpy formula. Compiled by numba: one pass
    over the kept boxes per row, held in separate coordinate arrays so that the pass runs in
    SIMD lanes (no early exit: a branch would stop the vectorisation, which is worth more).
    """
    n = ranked.shape[0]
    zero, eps = np.float32(0.0), np.float32(1e-9)
    size = min(n, limit)
    kx1, ky1 = np.empty(size, np.float32), np.empty(size, np.float32)
    kx2, ky2 = np.empty(size, np.float32), np.empty(size, np.float32)
    karea, keep = np.empty(size, np.float32), np.empty(size, np.int64)
    kept = 0
    for i in range(n):
        if kept >= limit:
            break
        x1, y1, x2, y2 = ranked[i, 0], ranked[i, 1], ranked[i, 2], ranked[i, 3]
        area = np.maximum(x2 - x1, zero) * np.maximum(y2 - y1, zero)
        overlaps = False
        for j in range(kept):
            iw = np.minimum(x2, kx2[j]) - np.maximum(x1, kx1[j])
            ih = np.minimum(y2, ky2[j]) - np.maximum(y1, ky1[j])
            inter = np.maximum(iw, zero) * np.maximum(ih, zero)
            overlaps |= inter / np.maximum(area + karea[j] - inter, eps) > iou
        if not overlaps:
            keep[kept], kx1[kept], ky1[kept], kx2[kept], ky2[kept], karea[kept] = i, x1, y1, x2, y2, area
            kept += 1
    return keep[:kept]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = IOU_THRESHOLD, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS of xyxy boxes (N, 4) with scores (N,): kept indices, best score first.

    A box is kept when no kept box of higher score overlaps it with IoU > ``iou`` (equal scores:
    the lower index first). ``max_keep`` stops after that many kept boxes (the same first
    boxes, found sooner).
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = np.ascontiguousarray(np.asarray(boxes, dtype=np.float32)[order])
    limit = len(order) if max_keep is None else max_keep
    return order[_greedy(ranked, np.float32(iou), limit)]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float = IOU_THRESHOLD,
                max_keep: int | None = None) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other.

    Offsets every class into its own disjoint coordinate range, then runs :func:`nms` once.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = classes.astype(np.float32)[:, None] * (np.abs(boxes).max() + 1.0)
    return nms(boxes + offset, scores, iou, max_keep)


def non_max_suppression(output: np.ndarray, conf: float = CONF_THRESHOLD, iou: float = IOU_THRESHOLD,
                        max_det: int = MAX_DETECTIONS, multi_label: bool = False) -> list[np.ndarray]:
    """Inference output (B, 4+nc, A) -> per image an (N, 6) array [x1, y1, x2, y2, score, class].

    Rows are sorted by score (best first); see the module docstring for ``multi_label``.
    """
    out = np.asarray(output, dtype=np.float32)
    if out.ndim != 3 or out.shape[1] < 5:
        raise ValueError(f"expected an inference output (B, 4+nc, A) with nc >= 1, got shape {out.shape}")
    if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
        raise ValueError(f"conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
    results = []
    for pred in out.transpose(0, 2, 1):  # (A, 4+nc)
        if multi_label:
            anchor, cls = np.nonzero(pred[:, 4:] > conf)
            score = pred[anchor, 4 + cls]
            best = np.argsort(-score, kind="stable")[:MAX_NMS_CANDIDATES]
            anchor, cls, score = anchor[best], cls[best], score[best]
            boxes = xywh_to_xyxy(pred[anchor, :4])
        else:
            cls = pred[:, 4:].argmax(1)
            score = pred[np.arange(len(pred)), 4 + cls]
            mask = score > conf
            boxes, score, cls = xywh_to_xyxy(pred[mask, :4]), score[mask], cls[mask]
        keep = batched_nms(boxes, score, cls, iou, max_keep=max_det)
        results.append(np.concatenate([boxes[keep], score[keep, None], cls[keep, None].astype(np.float32)], 1))
    return results
