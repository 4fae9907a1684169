"""Assigner and loss behaviour on hand-made cases: empty images, degenerate boxes, conflicts, padding."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from yolo_lib.loss import assign, detection_loss, from_image_lists, target_variables

HW = (64, 64)  # grids 8x8, 4x4, 2x2: 84 anchors


def head_vars(batch, nc):
    box = [pt.tensor4(f"b{s}", dtype="float32", shape=(batch, 64, 64 // s, 64 // s)) for s in (8, 16, 32)]
    cls = [pt.tensor4(f"c{s}", dtype="float32", shape=(batch, nc, 64 // s, 64 // s)) for s in (8, 16, 32)]
    return box, cls


def random_heads(rng, batch, nc):
    box = [rng.normal(0, 1, (batch, 64, 64 // s, 64 // s)).astype(np.float32) for s in (8, 16, 32)]
    cls = [rng.normal(-2, 1, (batch, nc, 64 // s, 64 // s)).astype(np.float32) for s in (8, 16, 32)]
    return box, cls


@pytest.fixture(scope="module")
def loss_fn():
    """Loss, items, fg mask and the gradient w.r.t. all head maps, for batch 2, 3 box slots, nc 3."""
    box, cls = head_vars(2, 3)
    gt = target_variables(2, 3)
    loss = detection_loss(box, cls, *gt, image_hw=HW)
    grads = pytensor.grad(loss.total, box + cls)
    return pytensor.function([*box, *cls, *gt], [loss.total, loss.items, loss.assignment.fg_mask, *grads], mode="JAX")


def run(loss_fn, targets, seed=0):
    box, cls = random_heads(np.random.default_rng(seed), 2, 3)
    total, items, fg, *grads = loss_fn(*box, *cls, *targets.as_inputs())
    return float(total), np.asarray(items), np.asarray(fg), [np.asarray(g) for g in grads]


def test_batch_without_boxes_gives_only_the_class_loss(loss_fn):
    total, items, fg, grads = run(loss_fn, from_image_lists([[], []], [[], []], max_boxes=3))
    assert not fg.any() and items[0] == 0 and items[2] == 0 and items[1] > 0
    assert np.isfinite(total) and all(np.isfinite(g).all() for g in grads)
    assert all(not g.any() for g in grads[:3])  # no box gradient without positives


def test_degenerate_boxes_stay_finite(loss_fn):
    # zero-area gts have CIoU <= 0 with every prediction, so they win no anchor; the normal box does
    boxes = [[[.5, .5, 0, .2], [.3, .3, .2, 0]], [[.7, .7, 0, 0], [.4, .5, .4, .5]]]
    total, items, fg, grads = run(loss_fn, from_image_lists(boxes, [[0, 1], [2, 0]], max_boxes=3))
    assert fg[1].any() and items[0] > 0
    assert np.isfinite(total) and np.isfinite(items).all() and all(np.isfinite(g).all() for g in grads)


def test_padding_slots_change_nothing(loss_fn):
    boxes, classes = [[[.4, .4, .5, .5]], [[.6, .5, .3, .6], [.3, .3, .2, .2]]], [[1], [0, 2]]
    full = run(loss_fn, from_image_lists(boxes, classes, max_boxes=3))
    box, cls = head_vars(2, 3)
    gt = target_variables(2, 2)
    fn = pytensor.function([*box, *cls, *gt], detection_loss(box, cls, *gt, image_hw=HW).items, mode="JAX")
    heads = random_heads(np.random.default_rng(0), 2, 3)
    tight = np.asarray(fn(*heads[0], *heads[1], *from_image_lists(boxes, classes, max_boxes=2).as_inputs()))
    np.testing.assert_allclose(full[1], tight, rtol=1e-6)


def test_conflicting_anchor_goes_to_the_gt_of_largest_ciou():
    # one anchor at (4, 4) px inside two gts; its predicted box equals gt 1
    points = pt.constant(np.array([[4.0, 4.0], [30.0, 30.0]], np.float32))
    scores = pt.constant(np.full((1, 2, 1), 0.5, np.float32))
    pred = pt.constant(np.array([[[0, 0, 8, 8], [20, 20, 40, 40]]], np.float32))
    gt_boxes = pt.constant(np.array([[[0, 0, 20, 20], [0, 0, 8, 8]]], np.float32))
    a = assign(scores, pred, points, np.zeros((1, 2), np.int32), gt_boxes, np.ones((1, 2), bool), num_classes=1)
    fg, idx, sc = pytensor.function([], [a.fg_mask, a.gt_idx, a.scores], mode="JAX")()
    assert np.asarray(fg)[0, 0] and np.asarray(idx)[0, 0] == 1
    assert np.asarray(sc)[0, 0, 0] == pytest.approx(1.0, abs=1e-5)  # perfect box: score = CIoU = 1


def test_loss_needs_static_target_shapes():
    box, cls = head_vars(2, 3)
    with pytest.raises(ValueError, match="static"):
        detection_loss(box, cls, pt.tensor3(dtype="float32"), pt.imatrix(), pt.matrix(dtype="bool"), image_hw=HW)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        target_variables(0, 3)


def test_candidate_floor_widens_sides_below_16px_to_16px():
    from yolo_lib.loss.assigner import candidates_in_gts

    points = pt.constant(np.array([[-7, 0], [-2, 0], [2, 0], [7, 0], [9, 0]], np.float32))
    # (x1, y1, x2, y2): 6 px and 12 px wide (< 16, widened to 16 about x=0: the anchors at
    # +-7 inside, +9 not), and 18 px wide centred on x=2 (>= 16, kept: -7 outside, +9 inside).
    # The 20 px height is kept and holds every anchor.
    gts = pt.constant(np.array([[[-3, -10, 3, 10], [-6, -10, 6, 10], [-7, -10, 11, 10]]], np.float32))
    inside = pytensor.function([], candidates_in_gts(points, gts, np.ones((1, 3), bool)), mode="JAX")()
    np.testing.assert_array_equal(np.asarray(inside)[0], [[True] * 4 + [False]] * 2
                                  + [[False, True, True, True, True]])
