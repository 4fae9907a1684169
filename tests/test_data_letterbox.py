"""Letterbox geometry: centred grey padding, exact box transform and its inverse."""

import numpy as np
import pytest
from PIL import Image

from yolo_lib.data.letterbox import (
    PAD_VALUE, boxes_from_letterbox, boxes_to_letterbox, letterbox_image, letterbox_params)


@pytest.mark.parametrize("w,h", [(640, 480), (480, 640), (500, 333), (320, 320), (100, 37), (37, 1000)])
def test_params_keep_aspect_and_centre(w, h):
    p = letterbox_params(w, h, 320)
    assert max(p.new_w, p.new_h) == 320
    assert abs(p.new_w / p.new_h - w / h) < 2 / min(p.new_w, p.new_h) + 1e-9
    assert abs(p.left - (320 - p.new_w - p.left)) <= 1 and abs(p.top - (320 - p.new_h - p.top)) <= 1


def test_image_padding_is_grey_and_content_is_resized_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 96, 3), dtype=np.uint8)  # 2:1 -> 320x160 centred vertically
    out, p = letterbox_image(img, 320)
    assert out.shape == (320, 320, 3) and out.dtype == np.uint8
    assert (p.new_w, p.new_h, p.left, p.top) == (320, 160, 0, 80)
    assert np.all(out[:80] == PAD_VALUE) and np.all(out[240:] == PAD_VALUE)
    expected = np.asarray(Image.fromarray(img).resize((320, 160), Image.BILINEAR))
    np.testing.assert_array_equal(out[80:240], expected)


def test_box_follows_the_pixels_it_covers():
    img = np.zeros((300, 500, 3), np.uint8)
    img[100:200, 50:150] = 255  # white square at x 50..150, y 100..200
    out, p = letterbox_image(img, 320)
    box = boxes_to_letterbox(np.array([[50, 100, 150, 200]], np.float32), p)[0]
    ys, xs = np.nonzero(out[..., 0] > 127)
    assert abs(xs.min() - box[0]) <= 1 and abs(xs.max() + 1 - box[2]) <= 1
    assert abs(ys.min() - box[1]) <= 1 and abs(ys.max() + 1 - box[3]) <= 1


def test_inverse_round_trip_is_exact():
    rng = np.random.default_rng(1)
    for w, h in [(640, 427), (333, 500), (640, 640)]:
        p = letterbox_params(w, h, 320)
        xy = rng.uniform(0, 1, (50, 2)) * [w, h]
        boxes = np.concatenate([xy, xy + rng.uniform(1, 50, (50, 2))], 1).clip(0, [w, h, w, h]).astype(np.float32)
        back = boxes_from_letterbox(boxes_to_letterbox(boxes, p), p)
        np.testing.assert_allclose(back, boxes, atol=1e-3)


def test_inverse_clips_predictions_in_the_padding():
    p = letterbox_params(640, 320, 320)  # content rows 80..240
    back = boxes_from_letterbox(np.array([[-5, 0, 330, 320]], np.float32), p)
    np.testing.assert_allclose(back, [[0, 0, 640, 320]])


def test_bad_input_messages():
    with pytest.raises(ValueError, match="positive"):
        letterbox_params(0, 10)
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        boxes_to_letterbox(np.zeros((3, 5)), letterbox_params(10, 10))
    with pytest.raises(TypeError, match="uint8"):
        letterbox_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        letterbox_image(np.zeros((4, 4), np.uint8))
