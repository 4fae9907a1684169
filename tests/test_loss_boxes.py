"""Anchors, DFL decode/loss and CIoU against independent numpy formulas."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from yolo_lib.loss import grid_shapes, make_anchors
from yolo_lib.geometry import corners, dfl_distances
from yolo_lib.loss.boxes import ciou_terms
from yolo_lib.loss.detection_loss import dfl_loss


def test_anchor_order_and_counts():
    points, stride = make_anchors((320, 320))
    assert points.shape == (2100, 2) and stride.shape == (2100, 1) and points.dtype == np.float32
    np.testing.assert_array_equal(points[:3], [[.5, .5], [1.5, .5], [2.5, .5]])  # x inner
    np.testing.assert_array_equal(points[40], [.5, 1.5])  # next row of P3
    np.testing.assert_array_equal(points[1600], [.5, .5])  # first P4 anchor
    assert (stride[:1600] == 8).all() and (stride[1600:2000] == 16).all() and (stride[2000:] == 32).all()
    assert make_anchors((640, 480))[0].shape[0] == 80 * 60 + 40 * 30 + 20 * 15


def test_grid_shapes_follow_the_stride_two_convs():
    assert grid_shapes((320, 256)) == [(40, 32), (20, 16), (10, 8)]
    assert grid_shapes((330, 100)) == [(42, 13), (21, 7), (11, 4)]  # ceil halving
    with pytest.raises(ValueError, match="positive"):
        grid_shapes((0, 320))
    with pytest.raises(TypeError, match="pair of ints"):
        make_anchors(320)


def numpy_ciou(b1, b2, eps=1e-7):
    w1, h1 = b1[..., 2] - b1[..., 0], b1[..., 3] - b1[..., 1] + eps
    w2, h2 = b2[..., 2] - b2[..., 0], b2[..., 3] - b2[..., 1] + eps
    inter = (np.clip(np.minimum(b1[..., 2], b2[..., 2]) - np.maximum(b1[..., 0], b2[..., 0]), 0, None)
             * np.clip(np.minimum(b1[..., 3], b2[..., 3]) - np.maximum(b1[..., 1], b2[..., 1]), 0, None))
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    c2 = ((np.maximum(b1[..., 2], b2[..., 2]) - np.minimum(b1[..., 0], b2[..., 0])) ** 2
          + (np.maximum(b1[..., 3], b2[..., 3]) - np.minimum(b1[..., 1], b2[..., 1])) ** 2 + eps)
    rho2 = ((b2[..., 0] + b2[..., 2] - b1[..., 0] - b1[..., 2]) ** 2 + (b2[..., 1] + b2[..., 3] - b1[..., 1] - b1[..., 3]) ** 2) / 4
    v = 4 / np.pi ** 2 * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2
    alpha = v / (v - iou + 1 + eps)
    return iou - (rho2 / c2 + v * alpha)


@pytest.fixture(scope="module")
def ciou_fn():
    b1, b2 = pt.matrix("b1", dtype="float32"), pt.matrix("b2", dtype="float32")
    terms = ciou_terms(b1, b2)
    loss = (1 - terms.ciou).sum()
    alpha_in = pt.vector("alpha", dtype="float32")  # the same loss with alpha as an outside constant
    loss_const_alpha = (1 - (terms.iou - (terms.rho2 / terms.c2 + terms.v * alpha_in))).sum()
    g = pytensor.grad(loss, b1)
    g_const = pytensor.grad(loss_const_alpha, b1)
    return pytensor.function([b1, b2, alpha_in], [terms.ciou, terms.alpha, g, g_const], mode="JAX",
                             on_unused_input="ignore")


def random_boxes(rng, n):
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(0.5, 30, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_ciou_matches_numpy_and_holds_alpha_constant(ciou_fn):
    rng = np.random.default_rng(0)
    b1, b2 = random_boxes(rng, 200), random_boxes(rng, 200)
    b2[:50] = b1[:50] + rng.normal(0, 1, (50, 4)).astype(np.float32)  # overlapping pairs too
    b2[:50, 2:] = np.maximum(b2[:50, 2:], b2[:50, :2] + .1)
    value, alpha, g, _ = ciou_fn(b1, b2, np.zeros(200, np.float32))
    np.testing.assert_allclose(value, numpy_ciou(b1.astype(np.float64), b2.astype(np.float64)), atol=2e-6)
    _, _, _, g_const = ciou_fn(b1, b2, np.asarray(alpha))
    np.testing.assert_allclose(g, g_const, rtol=1e-5, atol=1e-7)


def test_ciou_is_finite_for_degenerate_boxes(ciou_fn):
    b1 = np.array([[0, 0, 0, 0], [5, 5, 5, 9], [5, 5, 9, 5], [1, 1, 4, 4]], np.float32)
    b2 = np.array([[0, 0, 0, 0], [5, 5, 9, 5], [5, 5, 5, 5], [2, 2, 2, 2]], np.float32)
    outs = ciou_fn(b1, b2, np.zeros(4, np.float32))
    assert all(np.isfinite(np.asarray(o)).all() for o in outs)


def test_dfl_decode_and_loss_match_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (1, 5, 64)).astype(np.float32)
    target = rng.uniform(0, 14.99, (1, 5, 4)).astype(np.float32)
    points = np.array([[3.5, 2.5]] * 5, np.float32)
    x, t = pt.tensor3("x", dtype="float32"), pt.tensor3("t", dtype="float32")
    dist = dfl_distances(x.dimshuffle(0, 2, 1)).dimshuffle(0, 2, 1)  # geometry layout is (B, 64, A)
    x1y1, x2y2 = corners(dist.dimshuffle(0, 2, 1), pt.constant(points.T.copy()))
    boxes = pt.concatenate([x1y1, x2y2], axis=1).dimshuffle(0, 2, 1)
    fn = pytensor.function([x, t], [dist, boxes, dfl_loss(x, t)], mode="JAX")
    dist_v, boxes_v, loss_v = (np.asarray(o) for o in fn(logits, target))
    logp = logits.reshape(1, 5, 4, 16).astype(np.float64)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    np.testing.assert_allclose(dist_v, (np.exp(logp) * np.arange(16)).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(boxes_v, np.concatenate([points - dist_v[..., :2], points + dist_v[..., 2:]], -1), rtol=1e-6)
    tl = np.floor(target).astype(int)
    wl = tl + 1 - target
    ref = -(np.take_along_axis(logp, tl[..., None], -1)[..., 0] * wl
            + np.take_along_axis(logp, tl[..., None] + 1, -1)[..., 0] * (1 - wl)).mean(-1)
    np.testing.assert_allclose(loss_v, ref, rtol=1e-5)
