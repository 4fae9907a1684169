"""Augmentation geometry (boxes follow pixels), colour, remnant filter, batch iterator contract."""

from pathlib import Path

import numpy as np
import pytest

from yolo_lib.data.augment import AugmentConfig, box_candidates, colour_matrix, mosaic_canvas, random_affine
from yolo_lib.data.cache import CachedDataset
from yolo_lib.data.loader import BatchLoader

S = 96
COLOURS = np.array([[r, g, b] for r in (10, 90, 170, 250) for g in (10, 130, 250) for b in (10, 250)
                    if (r, g, b) != (90, 130, 10)])  # 23 distinct colours, none near grey 114
NO_COLOUR = dict(hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)


def painted(rng, h, w, n, first_colour=0):
    """A (3, h, w) grey image with n non-overlapping solid rectangles; their boxes and colour ids."""
    img = np.full((3, h, w), 114, np.uint8)
    boxes, ids = [], []
    cols = max(1, n)
    for k in range(n):
        cw = w // cols
        x1 = k * cw + int(rng.integers(1, max(2, cw // 4)))
        x2 = min((k + 1) * cw - 1, x1 + int(rng.integers(6, max(7, cw - 4))))
        y1 = int(rng.integers(0, h // 2))
        y2 = min(h, y1 + int(rng.integers(8, h // 2 + 8)))
        cid = (first_colour + k) % len(COLOURS)
        img[:, y1:y2, x1:x2] = COLOURS[cid][:, None, None]
        boxes.append([x1, y1, x2, y2])
        ids.append(cid)
    return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(ids, np.int32)


def region(img, colour_id):
    """Tight xyxy box of the pixels of one colour in a (3, H, W) image, or None."""
    hit = np.all(img == COLOURS[colour_id][:, None, None], axis=0)
    ys, xs = np.nonzero(hit)
    return None if len(xs) == 0 else np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def assert_boxes_follow_pixels(img, boxes, ids):
    for box, cid in zip(boxes, ids):
        got = region(img, cid)
        assert got is not None, f"box {box} kept but its colour is gone"
        np.testing.assert_allclose(got, box, atol=1.01, err_msg=f"colour {cid}")


def memory_dataset(rng, n, size=S, per_image=3) -> CachedDataset:
    """A CachedDataset held in memory: letterboxed painted images, content = whole canvas."""
    images, boxes, classes, offsets = [], [], [], [0]
    for i in range(n):
        img, b, ids = painted(rng, size, size, per_image, first_colour=i * per_image)
        images.append(img)
        boxes.append(b)
        classes.append(ids)
        offsets.append(offsets[-1] + len(ids))
    meta = {"size": size, "class_names": [f"c{i}" for i in range(len(COLOURS))], "n_images": n}
    return CachedDataset(Path("memory"), np.stack(images), np.concatenate(boxes), np.concatenate(classes),
                         np.array(offsets), np.tile([0, 0, size, size], (n, 1)), meta)


@pytest.mark.parametrize("seed", range(6))
def test_affine_boxes_follow_the_pixels(seed):
    rng = np.random.default_rng(seed)
    img, boxes, ids = painted(rng, S, S, 3)
    out, new, kept = random_affine(img, boxes, ids, S, np.random.default_rng(100 + seed), AugmentConfig(fliplr=0.5))
    assert out.shape == (3, S, S) and np.all((new >= 0) & (new <= S))
    assert_boxes_follow_pixels(out, new, kept)
    for cid in set(ids.tolist()) - set(kept.tolist()):  # dropped boxes left at most a remnant
        r = region(out, cid)
        assert r is None or min(r[2] - r[0], r[3] - r[1]) <= 3 or (r[2] - r[0]) * (r[3] - r[1]) < 0.1 * 1.5**2 * np.prod(
            boxes[list(ids).index(cid), 2:] - boxes[list(ids).index(cid), :2])


def test_flip_mirrors_image_and_boxes():
    rng = np.random.default_rng(0)
    img, boxes, ids = painted(rng, S, S, 2)
    cfg = AugmentConfig(scale=0.0, translate=0.0, fliplr=1.0)
    out, new, _ = random_affine(img, boxes, ids, S, rng, cfg)
    np.testing.assert_array_equal(out, img[:, :, ::-1])
    np.testing.assert_allclose(new[:, [0, 2]], S - boxes[:, [2, 0]])


@pytest.mark.parametrize("seed", range(4))
def test_mosaic_places_tiles_and_boxes(seed):
    rng = np.random.default_rng(seed)
    tiles, labels = [], []
    for k in range(4):
        img, b, ids = painted(rng, int(rng.integers(40, S + 1)), int(rng.integers(40, S + 1)), 1)
        x1, y1, x2, y2 = b[0].astype(int)
        img[:, y1:y2, x1:x2] = COLOURS[k][:, None, None]
        tiles.append(img)
        labels.append((b, np.array([k], np.int32)))
    canvas, boxes, classes = mosaic_canvas(tiles, labels, S, rng)
    assert canvas.shape == (3, 2 * S, 2 * S)
    keep = (boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0)
    assert_boxes_follow_pixels(canvas, boxes[keep], classes[keep])


def test_colour_matrix_strengths():
    rng = np.random.default_rng(0)
    m = colour_matrix(rng, AugmentConfig(hsv_h=0, hsv_s=0))
    assert np.allclose(m, m[0, 0] * np.eye(3)) and 0.6 <= m[0, 0] <= 1.4  # pure value gain
    for _ in range(20):  # greys stay grey (hue rotation and saturation act around the grey axis)
        m = colour_matrix(rng, AugmentConfig())
        np.testing.assert_allclose(m.sum(1), m.sum(1)[0], rtol=1e-5)
        assert 0.6 - 1e-6 <= m.sum(1)[0] <= 1.4 + 1e-6
    assert np.allclose(colour_matrix(rng, AugmentConfig(**NO_COLOUR)), np.eye(3))
    with pytest.raises(ValueError, match="hsv_s"):
        AugmentConfig(hsv_s=1.5)


def test_box_candidates_drop_tiny_thin_and_mostly_clipped():
    cfg = AugmentConfig()
    before = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 100, 10], [0, 0, 10, 10]], np.float32)
    after = np.array([[0, 0, 10, 10], [0, 0, 2, 10], [0, 0, 9, 10], [0, 0, 3.5, 3.5]], np.float32)
    assert box_candidates(before, after, cfg).tolist() == [True, False, False, True]


@pytest.fixture(scope="module")
def dataset():
    return memory_dataset(np.random.default_rng(0), 8)  # 8 images x 3 boxes, 23 colours


def assert_boxes_painted(img, boxes, ids, min_fraction=0.9):
    """Each box is (almost) filled with its colour: holds even when an image repeats in a mosaic."""
    for box, cid in zip(boxes, ids):
        x1, y1, x2, y2 = np.round(box).astype(int)
        hit = np.all(img[:, y1:y2, x1:x2] == COLOURS[cid][:, None, None], axis=0)
        assert hit.mean() >= min_fraction, f"box {box} colour {cid}: {hit.mean():.2f} painted"


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_batches_contract_and_boxes_follow_pixels(dataset, mosaic):
    loader = BatchLoader(dataset, 4, AugmentConfig(mosaic=mosaic, **NO_COLOUR), seed=1)
    assert loader.max_boxes == (12 if mosaic else 3) and len(loader) == 2
    seen = 0
    for batch in loader.epoch(0):
        assert batch.images.shape == (4, 3, S, S) and batch.images.dtype == np.float32
        assert batch.boxes.shape == (4, loader.max_boxes, 4) and batch.classes.dtype == np.int32
        assert batch.mask.dtype == np.float32 and np.all(batch.mask.sum(1) == batch.n_boxes)
        for j in range(4):
            k = batch.n_boxes[j]
            assert np.all(batch.mask[j, :k] == 1) and np.all(batch.mask[j, k:] == 0)
            assert np.all(batch.boxes[j, k:] == 0) and np.all(batch.classes[j, k:] == 0)
            img = np.rint(batch.images[j] * 255).astype(np.uint8)
            if mosaic:
                assert_boxes_painted(img, batch.boxes[j, :k], batch.classes[j, :k])
            else:
                assert_boxes_follow_pixels(img, batch.boxes[j, :k], batch.classes[j, :k])
            seen += k
    assert seen > 0


def test_colour_jitter_applies_and_stays_in_range(dataset):
    plain = next(iter(BatchLoader(dataset, 4, AugmentConfig(**NO_COLOUR), seed=3).epoch(0)))
    jitter = next(iter(BatchLoader(dataset, 4, AugmentConfig(), seed=3).epoch(0)))
    assert 0 <= jitter.images.min() and jitter.images.max() <= 1
    np.testing.assert_array_equal(plain.boxes, jitter.boxes)  # colour draws come after geometry
    assert np.abs(plain.images - jitter.images).mean() > 0.01


def test_deterministic_under_seed_across_workers_and_buffers(dataset):
    def run(**kw):
        out = []
        for b in BatchLoader(dataset, 4, seed=7, **kw).epoch(2):
            out.append((b.images.copy(), b.boxes.copy(), b.classes.copy(), b.mask.copy()))
        return out
    a, b = run(), run(workers=2, reuse_buffers=True, prefetch=1)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    c = [(bb.images,) for bb in BatchLoader(dataset, 4, seed=8).epoch(2)]
    assert not np.array_equal(a[0][0], c[0][0])


def test_uint8_output_and_no_augmentation(dataset):
    batch = next(iter(BatchLoader(dataset, 4, None, shuffle=False, dtype="uint8").epoch(0)))
    assert batch.images.dtype == np.uint8
    np.testing.assert_array_equal(batch.images, dataset.images[:4])
    np.testing.assert_array_equal(batch.boxes[0, :3], dataset.labels(0)[0])
    f = next(iter(BatchLoader(dataset, 4, None, shuffle=False).epoch(0)))
    np.testing.assert_allclose(f.images, dataset.images[:4] / 255.0, atol=1e-6)
    assert BatchLoader(dataset, 4, None).max_boxes == 3


def test_close_mosaic_switch(dataset):
    loader = BatchLoader(dataset, 4, AugmentConfig(**NO_COLOUR), epochs=5, close_mosaic=2)
    assert [loader.mosaic_enabled(e) for e in range(5)] == [True, True, True, False, False]
    per_image = np.diff(dataset.offsets)
    late = [b for b in loader.epoch(4)]
    assert all(np.all(b.n_boxes <= per_image[b.indices]) for b in late)
    early = [b for b in loader.epoch(0)]
    assert any(np.any(b.n_boxes > per_image[b.indices]) for b in early)  # mosaic brings extra boxes


def test_box_overflow_is_an_error_or_a_counted_truncation(dataset):
    with pytest.raises(ValueError, match="more than max_boxes=1"):
        list(BatchLoader(dataset, 4, None, max_boxes=1).epoch(0))
    loader = BatchLoader(dataset, 4, None, max_boxes=1, on_overflow="truncate", shuffle=False)
    batches = list(loader.epoch(0))
    assert loader.truncated_boxes == 8 * 2 and all(np.all(b.n_boxes == 1) for b in batches)
    areas = np.prod(dataset.boxes[:, 2:] - dataset.boxes[:, :2], 1)
    np.testing.assert_allclose(batches[0].boxes[0, 0], dataset.boxes[np.argmax(areas[:3])])


def test_bad_loader_arguments(dataset):
    with pytest.raises(ValueError, match="exceeds"):
        BatchLoader(dataset, 64)
    with pytest.raises(ValueError, match="dtype"):
        BatchLoader(dataset, 4, dtype="float16")
    with pytest.raises(ValueError, match="on_overflow"):
        BatchLoader(dataset, 4, on_overflow="ignore")


def test_loss_targets_match_the_loss_helpers_format(dataset):
    from yolo_lib.loss.detection_loss import target_variables

    batch = next(iter(BatchLoader(dataset, 4, AugmentConfig(), seed=2).epoch(0)))
    boxes, classes, mask = batch.loss_targets()
    variables = target_variables(4, batch.boxes.shape[1])
    for value, var in zip((boxes, classes, mask), variables):
        assert value.dtype == var.type.dtype and value.shape == var.type.shape
    k = batch.n_boxes[0]
    x1, y1, x2, y2 = batch.boxes[0, 0]
    np.testing.assert_allclose(boxes[0, 0], [(x1 + x2) / 2 / S, (y1 + y2) / 2 / S, (x2 - x1) / S, (y2 - y1) / S], rtol=1e-6)
    assert mask[0, :k].all() and not mask[0, k:].any() and np.all(boxes[0, k:] == 0)
    assert np.all((boxes >= 0) & (boxes <= 1))
