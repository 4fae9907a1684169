"""Synthetic COCO-format set and the letterbox cache built from it (incl. bad input)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo_lib.data import (AugmentConfig, BatchLoader, CacheMismatchError, SyntheticSpec, letterbox_params,
                           load_annotations, open_cache)
from yolo_lib.data.__main__ import main as cli_main
from yolo_lib.data.build import open_dataset
from yolo_lib.data.synthetic import write_synthetic

SPEC = SyntheticSpec(n_train=24, n_val=4, min_side=160, max_side=320, seed=5)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(root, SPEC, progress=False)
    return root


def test_synthetic_is_valid_coco_and_deterministic(synthetic, tmp_path):
    coco = load_annotations(synthetic / "instances_train.json")
    assert len(coco.imgs) == 24
    assert {c["name"]: c["id"] for c in coco.dataset["categories"]} == {"person": 1, "cell phone": 77}
    cats = [a["category_id"] for a in coco.dataset["annotations"]]
    assert cats.count(1) > 10 and cats.count(77) > 10
    for img in coco.imgs.values():
        with Image.open(synthetic / "train" / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"])
        assert coco.imgToAnns[img["id"]], "every image has an object"
    boxes = np.array([a["bbox"] for a in coco.dataset["annotations"]])
    phones = boxes[np.array(cats) == 77]
    people = boxes[np.array(cats) == 1]
    assert np.median(people[:, 3] / people[:, 2]) > 1.8  # tall figures
    assert np.max(phones[:, 2:]) <= 61 and np.median(people[:, 3]) > 3 * np.median(phones[:, 3])
    write_synthetic(tmp_path, SPEC, progress=False)
    assert (tmp_path / "instances_train.json").read_text() == (synthetic / "instances_train.json").read_text()
    a = np.asarray(Image.open(tmp_path / "train" / "000003.jpg"))
    np.testing.assert_array_equal(a, np.asarray(Image.open(synthetic / "train" / "000003.jpg")))


def test_cache_holds_letterboxed_images_and_exact_boxes(synthetic, tmp_path):
    ds = open_cache(tmp_path / "c", synthetic / "instances_train.json", synthetic / "train", 96, progress=False)
    assert ds.images.shape == (24, 3, 96, 96) and ds.images.dtype == np.uint8
    assert not ds.images.flags.writeable and not ds.images.flags.owndata  # read-only view of the file map
    coco = load_annotations(synthetic / "instances_train.json")
    for i in (0, 7, 23):
        info = coco.imgs[ds.meta["image_ids"][i]]
        p = letterbox_params(info["width"], info["height"], 96)
        boxes, classes = ds.labels(i)
        anns = coco.imgToAnns[info["id"]]
        want = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                         for a in anns])
        want = want * ([p.scale_x, p.scale_y] * 2) + [p.left, p.top] * 2
        np.testing.assert_allclose(boxes, want, atol=1e-3)
        assert list(classes) == [0 if a["category_id"] == 1 else 1 for a in anns]
        assert tuple(ds.content[i]) == p.content
        x1, y1, x2, y2 = p.content
        img = ds.image_hwc(i)
        assert np.all(img[:y1] == 114) and np.all(img[y2:] == 114) and np.all(img[:, :x1] == 114)
    assert ds.summary()["boxes_per_class"]["person"] == int(np.sum(ds.classes == 0))


def test_cache_mismatch_is_detected_then_refused_or_rebuilt(synthetic, tmp_path):
    ann, imgs = synthetic / "instances_train.json", synthetic / "train"
    open_cache(tmp_path, ann, imgs, 64, progress=False)
    with pytest.raises(CacheMismatchError, match="size: cache has 64, wanted 96"):
        open_cache(tmp_path, ann, imgs, 96, rebuild=False, progress=False)
    with pytest.raises(CacheMismatchError, match="class_names"):
        open_cache(tmp_path, ann, imgs, 64, ["cell phone", "person"], rebuild=False, progress=False)
    ds = open_cache(tmp_path, ann, imgs, 96, ["cell phone"], rebuild=True, progress=False)
    assert ds.size == 96 and ds.class_names == ["cell phone"] and set(ds.classes) == {0}
    assert len(ds) < 24  # only images with a phone
    assert open_cache(tmp_path, ann, imgs, 96, ["cell phone"], rebuild=False, progress=False).size == 96


def test_corrupt_missing_and_missized_images_are_skipped_and_named(synthetic, tmp_path):
    imgs = tmp_path / "imgs"
    shutil.copytree(synthetic / "train", imgs)
    (imgs / "000001.jpg").write_bytes((imgs / "000001.jpg").read_bytes()[:300])  # truncated JPEG
    (imgs / "000002.jpg").unlink()
    Image.new("RGB", (10, 10)).save(imgs / "000003.jpg")
    (imgs / "000004.jpg").write_bytes(b"this is not an image")
    ds = open_cache(tmp_path / "c", synthetic / "instances_train.json", imgs, 64, progress=False)
    skipped = {s["file_name"]: s["reason"] for s in ds.meta["skipped"]}
    assert set(skipped) == {"000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"}
    assert "corrupt" in skipped["000001.jpg"] and "missing" in skipped["000002.jpg"]
    assert "differs" in skipped["000003.jpg"] and "corrupt" in skipped["000004.jpg"]
    assert len(ds) == 20 and len(ds.offsets) == 21


def test_cli_synthetic_and_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    assert cli_main(["synthetic", "--train", "6", "--val", "2", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["train"]["images"] == 6 and (tmp_path / "synthetic" / "instances_val.json").exists()
    assert cli_main(["cache", "--split", "val", "--size", "64", "--quiet"]) == 0  # uses the set just written
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 2 and out["size"] == 64
    assert cli_main(["cache", "--split", "val", "--size", "64", "--classes", "cell phone", "--no-rebuild", "--quiet"]) == 1
    assert "made for other settings" in capsys.readouterr().err


def test_open_dataset_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build the subset first"):
        open_dataset("coco", "val")
    with pytest.raises(ValueError, match="source must be"):
        open_dataset("imagenet")
    with pytest.raises(ValueError, match="split must be"):
        open_dataset("synthetic", "test")


def test_worker_processes_give_the_same_batches_as_threads(synthetic, tmp_path):
    ds = open_cache(tmp_path, synthetic / "instances_train.json", synthetic / "train", 64, progress=False)
    threads = [(b.images.copy(), b.boxes.copy(), b.mask.copy()) for b in BatchLoader(ds, 6, seed=4).epoch(3)]
    loader = BatchLoader(ds, 6, AugmentConfig(), seed=4, processes=2, prefetch=1)
    try:
        for epoch in (3, 3):  # the pool and the shared ring are reused across epochs
            procs = [(b.images.copy(), b.boxes.copy(), b.mask.copy()) for b in loader.epoch(epoch)]
            assert len(procs) == len(threads) == 4
            for a, b in zip(threads, procs):
                for x, y in zip(a, b):
                    np.testing.assert_array_equal(x, y)
        last = procs[-1][0]
        held = next(iter(loader.epoch(3)))
        ring_file = Path(loader._ring.path)
        assert ring_file.exists()
    finally:
        loader.close()
    np.testing.assert_array_equal(held.images, threads[0][0])  # still readable after close
    assert not ring_file.exists()  # the ring file is unlinked
    assert last.shape == (6, 3, 64, 64)
    with pytest.raises(ValueError, match="opened from a cache folder"):
        from dataclasses import replace
        BatchLoader(replace(ds, root=tmp_path / "nowhere"), 6, processes=2)


def _thread_batches(ds, epoch, **kw):
    return [(b.images.copy(), b.boxes.copy(), b.mask.copy()) for b in BatchLoader(ds, 2, seed=4, **kw).epoch(epoch)]


def test_process_batches_stay_valid_when_kept_and_on_the_device(synthetic, tmp_path):
    """The Trainer keeps a batch (as device arrays) while the loader assembles the next ones. On
    the CPU backend jax.device_put aliases a large NumPy array instead of copying it, so a batch
    that still viewed its slot of the shared ring would change under the step when the slot is
    reused: 12 batches through 5 slots must all keep their own contents."""
    import jax

    ds = open_cache(tmp_path, synthetic / "instances_train.json", synthetic / "train", 64, progress=False)
    expected = _thread_batches(ds, 1)
    loader = BatchLoader(ds, 2, AugmentConfig(), seed=4, processes=2, prefetch=1)
    try:
        kept = list(loader.epoch(1))
        on_device = [jax.device_put(b.images) for b in kept]
    finally:
        loader.close()
    assert len(kept) == 12 > loader.workers + loader.prefetch + 2
    for batch, device_images, (images, boxes, mask) in zip(kept, on_device, expected):
        np.testing.assert_array_equal(batch.images, images)
        np.testing.assert_array_equal(np.asarray(device_images), images)
        np.testing.assert_array_equal(batch.boxes, boxes)


def test_process_workers_survive_ctrl_c_and_an_abandoned_epoch(synthetic, tmp_path):
    """Ctrl-C in a terminal signals every process of the group: the workers must ignore it (the
    Trainer finishes its iteration and saves). An epoch abandoned after one batch must not leave
    a job writing into a slot that the next epoch reuses."""
    import os
    import signal
    import time

    ds = open_cache(tmp_path, synthetic / "instances_train.json", synthetic / "train", 64, progress=False)
    expected = _thread_batches(ds, 2)
    loader = BatchLoader(ds, 2, AugmentConfig(), seed=4, processes=2, prefetch=1)
    try:
        batches = loader.epoch(2)
        next(batches)
        batches.close()  # abandoned with jobs in flight; returns once they are done
        for pid in list(loader._ring.pool._processes):  # idle now, waiting for work
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        got = [(b.images, b.boxes, b.mask) for b in loader.epoch(2)]
    finally:
        loader.close()
    assert len(got) == len(expected) == 12
    for a, b in zip(got, expected):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_process_workers_ignore_ctrl_c_while_they_start(synthetic, tmp_path):
    """A worker is spawned when the pool first needs it and takes about a second to import
    yolo_lib: a Ctrl-C in that second must not kill it (it did before its initializer ignored
    SIGINT: BrokenProcessPool, and the Trainer could not save). Each worker is signalled within a
    millisecond or so of its spawn, while its interpreter is still starting."""
    import os
    import signal
    import threading
    import time

    ds = open_cache(tmp_path, synthetic / "instances_train.json", synthetic / "train", 64, progress=False)
    expected = _thread_batches(ds, 2)
    loader = BatchLoader(ds, 2, AugmentConfig(), seed=4, processes=2, prefetch=1)
    outcome: dict = {}

    def consume():
        try:
            outcome["got"] = [(b.images, b.boxes, b.mask) for b in loader.epoch(2)]
        except BaseException as e:  # noqa: BLE001  (reported by the assertion below)
            outcome["error"] = e

    consumer = threading.Thread(target=consume)
    signalled: set[int] = set()
    try:
        consumer.start()
        deadline = time.monotonic() + 60
        while consumer.is_alive() and len(signalled) < 2 and time.monotonic() < deadline:
            ring = loader._ring
            pids = set(ring.pool._processes.copy()) if ring is not None else set()
            for pid in pids - signalled:
                os.kill(pid, signal.SIGINT)
                signalled.add(pid)
            time.sleep(0.0005)
        consumer.join(120)
    finally:
        loader.close()
    assert len(signalled) == 2, "the workers were not seen starting"
    assert "error" not in outcome, repr(outcome.get("error"))
    assert len(outcome["got"]) == len(expected) == 12
    for a, b in zip(outcome["got"], expected):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_reuse_buffers_is_thread_mode_only(synthetic, tmp_path):
    ds = open_cache(tmp_path, synthetic / "instances_train.json", synthetic / "train", 64, progress=False)
    with pytest.raises(ValueError, match="reuse_buffers is for thread mode"):
        BatchLoader(ds, 2, processes=2, reuse_buffers=True)


def test_module_entry_point_runs(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "yolo_lib.data", "synthetic", "--out", str(tmp_path), "--train", "2",
                          "--val", "1", "--quiet"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["splits"]["val"]["images"] == 1


def test_processes_building_the_same_set_and_cache_at_once_all_succeed(tmp_path):
    """Two training runs started together (the resume test does this) build the same synthetic
    set and letterbox cache at the same moment: each must open a complete copy, never a file
    the other is still writing, and no temporary folder may remain."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from yolo_lib.data import SyntheticSpec, ensure_synthetic, open_cache\n"
        "root = ensure_synthetic(sys.argv[1] + '/set', SyntheticSpec(n_train=24, n_val=4, min_side=160,"
        " max_side=320, seed=5), progress=False)\n"
        "ds = open_cache(sys.argv[1] + '/cache', root / 'instances_train.json', root / 'train', 96, progress=False)\n"
        "print(len(ds), int(np.asarray(ds.images, np.int64).sum()))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({o.strip().splitlines()[-1] for o in outs}) == 1, outs  # the same images everywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "set"]
