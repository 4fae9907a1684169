"""Dense padded targets: packing, empty images, overflow, validation messages."""

import numpy as np
import pytest

from yolo_lib.loss import from_image_lists, from_rows


def test_rows_are_grouped_per_image_in_order():
    rows = np.array([[1, 0, .5, .5, .2, .2], [0, 1, .1, .2, .3, .4], [1, 1, .6, .6, .1, .1]], np.float32)
    t = from_rows(rows, batch_size=3)
    assert t.boxes.shape == (3, 2, 4) and t.classes.dtype == np.int32 and t.mask.dtype == bool
    np.testing.assert_array_equal(t.mask, [[True, False], [True, True], [False, False]])
    np.testing.assert_allclose(t.boxes[1], rows[[0, 2], 2:])
    np.testing.assert_array_equal(t.classes[1], [0, 1])
    assert not t.boxes[2].any() and t.n_dropped == 0


def test_batch_without_any_box_has_one_empty_slot():
    t = from_image_lists([np.zeros((0, 4)), []], [[], []])
    assert t.boxes.shape == (2, 1, 4) and not t.mask.any()


def test_fixed_max_boxes_pads():
    t = from_image_lists([np.full((2, 4), .5)], [[0, 1]], max_boxes=5)
    assert t.max_boxes == 5 and t.mask.sum() == 2


def test_overflow_is_an_error_unless_truncation_is_asked_for():
    boxes, classes = [np.full((4, 4), .5), np.full((1, 4), .5)], [[0, 1, 0, 1], [1]]
    with pytest.raises(ValueError, match="more boxes than max_boxes=3.*image 0: 4"):
        from_image_lists(boxes, classes, max_boxes=3)
    t = from_image_lists(boxes, classes, max_boxes=3, truncate=True)
    assert t.n_dropped == 1 and t.mask.sum() == 4
    np.testing.assert_array_equal(t.classes[0], [0, 1, 0])


def test_zero_size_boxes_are_kept():
    t = from_image_lists([[[.5, .5, 0, .1], [.2, .2, 0, 0]]], [[0, 1]])
    assert t.mask.sum() == 2


@pytest.mark.parametrize("boxes, classes, nc, message", [
    ([[.5, .5, .1]], [0], None, r"shape \(n, 4\)"),
    ([[.5, .5, .1, np.nan]], [0], None, "NaN or inf"),
    ([[.5, .5, -.1, .1]], [0], None, "negative box width"),
    ([[.5, .5, .1, .1]], [2], 2, r"class indices must be \[0, 2\)"),
    ([[.5, .5, .1, .1]], [0.5], None, "class indices"),
    ([[.5, .5, .1, .1]], [0, 1], None, "1 boxes but 2 classes"),
])
def test_bad_input_gets_a_clear_message(boxes, classes, nc, message):
    with pytest.raises(ValueError, match=message):
        from_image_lists([boxes], [classes], num_classes=nc)


def test_rows_validation():
    with pytest.raises(ValueError, match=r"shape \(N, 6\)"):
        from_rows(np.zeros((2, 5)), 1)
    with pytest.raises(ValueError, match=r"batch_idx must be integers in \[0, 2\)"):
        from_rows(np.array([[2, 0, .5, .5, .1, .1]]), 2)
    with pytest.raises(ValueError, match="max_boxes must be a positive int"):
        from_rows(np.array([[0, 0, .5, .5, .1, .1]]), 1, max_boxes=0)
