"""Decoding detections from the inference output: thresholds and class-aware NMS."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_lib.postprocess import batched_nms, box_iou, nms, non_max_suppression, xywh_to_xyxy


def iou_of_two(a, b) -> float:
    """IoU of two xyxy boxes, written out here so the oracle does not share postprocess' code."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(float(w), 0.0) * max(float(h), 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / float(union)


def brute_force_nms(boxes, scores, iou):
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if all(iou_of_two(boxes[i], boxes[j]) <= iou for j in keep):
            keep.append(i)
    return np.asarray(keep)


def test_box_iou_matches_the_written_out_iou():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 50, (20, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 30, (20, 2))], 1).astype(np.float32)
    want = np.array([[iou_of_two(a, b) for b in boxes] for a in boxes])
    np.testing.assert_allclose(box_iou(boxes, boxes), want, rtol=1e-5, atol=1e-6)


def test_nms_matches_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (200, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (200, 2))], 1).astype(np.float32)
    scores = rng.random(200).astype(np.float32)
    for iou in (0.3, 0.5, 0.7):
        np.testing.assert_array_equal(nms(boxes, scores, iou), brute_force_nms(boxes, scores, iou))


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert sorted(batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5)) == [0, 2]
    assert list(nms(boxes, scores, 0.5)) == [0]


def test_non_max_suppression_on_an_inference_output():
    # two anchors on the same object (class 1), one elsewhere (class 0), one below threshold
    xywh = np.array([[50, 50, 20, 20], [51, 50, 20, 20], [150, 80, 30, 10], [10, 10, 4, 4]], np.float32)
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.1], [0.1, 0.2]], np.float32)
    out = np.concatenate([xywh, scores], 1).T[None]  # (1, 6, 4)
    (det,) = non_max_suppression(out, conf=0.25, iou=0.7)
    assert det.shape == (2, 6)
    np.testing.assert_allclose(det[0], [*xywh_to_xyxy(xywh[0]), 0.9, 1], rtol=1e-6)
    np.testing.assert_allclose(det[1], [*xywh_to_xyxy(xywh[2]), 0.6, 0], rtol=1e-6)
    assert non_max_suppression(out, conf=0.95)[0].shape == (0, 6)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\(B, 4\+nc, A\)"):
        non_max_suppression(np.zeros((6, 10)))
    with pytest.raises(ValueError, match="conf"):
        non_max_suppression(np.zeros((1, 6, 10)), conf=2)


def one_at_a_time_multi_label(output, conf, iou, max_det):
    """Multi-label class-aware NMS written plainly: every (anchor, class) above ``conf``, best
    score first (equal scores: anchor, then class order), kept unless a kept box of its class
    overlaps it with IoU > ``iou``; float64 IoU of the oracle above."""
    results = []
    for pred in np.asarray(output, np.float64).transpose(0, 2, 1):
        cands = [(-pred[a, 4 + c], a, c) for a in range(len(pred)) for c in range(pred.shape[1] - 4)
                 if pred[a, 4 + c] > np.float32(conf)]
        kept = []
        for neg_score, a, c in sorted(cands, key=lambda t: t[0]):  # stable: ties stay in (anchor, class) order
            if len(kept) == max_det:
                break
            cx, cy, w, h = pred[a, :4]
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if all(kc != c or iou_of_two(box, kb) <= iou for kb, kc, _ in kept):
                kept.append((box, c, -neg_score))
        results.append(np.array([[*b, s, c] for b, c, s in kept], np.float64).reshape(-1, 6))
    return results


def test_nms_with_ties_equals_one_box_at_a_time():
    """Equal scores, duplicate boxes, IoUs exactly at the threshold, several classes, max_det.

    Integer boxes on a small grid make the ties exact (IoU 0.5 is common): float32 inside
    postprocess and the float64 oracle agree on every comparison, so any difference is an error
    in the kept set or its order.
    """
    rng = np.random.default_rng(7)
    for trial in range(40):
        n, nc = 120, 3
        centre = rng.integers(4, 16, (n, 2)) * 2  # even centres and sizes: integer xyxy corners
        size = rng.integers(1, 6, (n, 2)) * 2
        scores = rng.integers(1, 6, (n, nc)) / 5 * (rng.random((n, nc)) < 0.5)  # ties, some below conf
        out = np.concatenate([centre, size, scores], 1).astype(np.float32).T[None]  # (1, 4+nc, n)
        for iou in (0.25, 0.5, 0.75):
            for max_det in (300, 10):
                (got,) = non_max_suppression(out, conf=0.1, iou=iou, max_det=max_det, multi_label=True)
                (want,) = one_at_a_time_multi_label(out, 0.1, iou, max_det)
                np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"trial {trial}, iou {iou}")
        boxes = xywh_to_xyxy(out[0, :4].T)
        best = scores.max(1).astype(np.float32)
        for iou in (0.0, 0.5, 1.0):
            np.testing.assert_array_equal(nms(boxes, best, iou), brute_force_nms(boxes, best, iou))
            np.testing.assert_array_equal(nms(boxes, best, iou, max_keep=4), brute_force_nms(boxes, best, iou)[:4])
