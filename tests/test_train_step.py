"""The training step's two input formats feed the loss the same targets; bad options fail at once.

The gradient parity (tests/test_loss_gradients.py) runs the step with the reference tensors'
format (float images, normalised cx, cy, w, h); the Trainer feeds the loader's (uint8 images,
xyxy pixel boxes). Everything after :func:`~yolo_lib.train.step.loss_targets` is one graph, so
checking that function checks that the Trainer runs the step the parity tests check.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.data.loader import Batch
from yolo_lib.model import build_yolo11
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.step import TrainingStep, loss_targets


def loader_batch(h: int, w: int, seed: int = 0) -> Batch:
    """Two images of (h, w) with 0 and 3 boxes (xyxy pixels) in 4 slots, as the loader packs them."""
    rng = np.random.default_rng(seed)
    boxes, mask = np.zeros((2, 4, 4), np.float32), np.zeros((2, 4), np.float32)
    xy1 = rng.uniform(0, [w / 2, h / 2], (3, 2))
    boxes[1, :3] = np.concatenate([xy1, xy1 + rng.uniform(1, [w / 2, h / 2], (3, 2))], 1)
    mask[1, :3] = 1
    classes = np.array([[0, 0, 0, 0], [1, 0, 1, 0]], np.int32)
    return Batch(np.zeros((2, 3, h, w), np.uint8), boxes, classes, mask, mask.sum(1).astype(np.int64), np.arange(2))


def converted(boxes, mask, image_hw, input_format):
    b, m = pt.tensor3("boxes", dtype="float32"), pt.matrix("mask", dtype="float32")
    return pytensor.function([b, m], loss_targets(b, m, image_hw, input_format), mode="FAST_COMPILE")(boxes, mask)


def test_loader_targets_become_the_normalised_targets():
    batch = loader_batch(64, 64)
    want_boxes, _, want_mask = batch.loss_targets()  # the loader's own conversion (square images)
    boxes, mask = converted(batch.boxes, batch.mask, (64, 64), "loader")
    np.testing.assert_allclose(boxes, want_boxes, rtol=1e-6, atol=1e-7)
    assert mask.dtype == bool and np.array_equal(mask, want_mask)
    same, same_mask = converted(want_boxes, want_mask.astype(np.float32), (64, 64), "normalised")
    assert np.array_equal(same, want_boxes) and np.array_equal(same_mask, want_mask)


def test_loader_targets_divide_x_by_the_width_and_y_by_the_height():
    batch = loader_batch(32, 96, seed=1)
    boxes, _ = converted(batch.boxes, batch.mask, (32, 96), "loader")
    x1, y1, x2, y2 = np.moveaxis(batch.boxes.astype(np.float64), -1, 0)
    want = np.stack([(x1 + x2) / 2 / 96, (y1 + y2) / 2 / 32, (x2 - x1) / 96, (y2 - y1) / 32], -1)
    np.testing.assert_allclose(boxes, want, rtol=1e-6, atol=1e-7)


def test_an_unknown_input_format_is_refused_before_compiling():
    model = build_yolo11("n", 2, init=False)
    with pytest.raises(ValueError, match=r"input_format must be one of \['loader', 'normalised'\], got 'xywh'"):
        TrainingStep(model, SGD(model.params, 5e-4), None, 2, 64, 4, input_format="xywh")
