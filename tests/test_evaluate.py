"""The evaluator: hand-made cases of known AP, class matching, bad input, the command line.

Images are generated (a fresh clone has no ../shared); the model-free cases feed the pipeline a
fake predictor that returns the labelled boxes in letterbox pixels, so every step but the
network runs (letterbox, NMS, the inverse mapping, COCO results, COCOeval).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo_lib.data.letterbox import boxes_to_letterbox, letterbox_params
from yolo_lib.evaluate import EvaluationError, Evaluator, detections_to_coco, match_classes, score_detections
from yolo_lib.evaluate.__main__ import main as cli_main
from yolo_lib.postprocess import non_max_suppression

CATS = [{"id": 1, "name": "person"}, {"id": 77, "name": "cell phone"}]
NAMES = ["person", "cell phone"]
# (width, height, [(category id, [x, y, w, h], iscrowd)])
SPECS = [
    (97, 61, [(1, [10, 5, 30, 40], 0), (77, [50, 20, 20, 15], 0)]),
    (64, 128, [(1, [3, 10, 50, 90], 0)]),
    (150, 110, [(77, [100, 60, 30, 30], 0), (1, [5, 5, 60, 80], 0), (1, [70, 10, 20, 30], 1)]),
]


def write_set(root: Path, specs=SPECS, categories=CATS) -> tuple[Path, Path]:
    """Generated PNGs (grey noise with coloured boxes) and their COCO json."""
    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i, (w, h, boxes) in enumerate(specs, 1):
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for cat, (x, y, bw, bh), _ in boxes:
            pixels[int(y):int(y + bh), int(x):int(x + bw)] = (200, 30, 30) if cat == 1 else (30, 30, 200)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
        images.append({"id": i, "file_name": f"{i:04d}.png", "width": w, "height": h})
        for cat, box, crowd in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": list(map(float, box)),
                         "area": float(box[2] * box[3]), "iscrowd": crowd})
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return path, folder


def oracle(ev: Evaluator, skip=(), score=0.9, extra=None):
    """A predictor that 'sees' every labelled box of the good images, in evaluation order.

    extra: image id -> list of (model class, [x, y, w, h] original pixels, score) added boxes.
    """
    records = iter([r for r in ev.dataset["images"] if r["file_name"] not in skip])
    anns = {}
    for a in ev.dataset["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    cls_of = {c: i for i, (_, _, c) in enumerate(ev.classes.matched)}

    def predict(x):
        nc, anchors = len(ev.classes.names), 128
        out = np.zeros((len(x), 4 + nc, anchors), np.float32)
        for b in range(len(x)):
            rec = next(records, None)
            if rec is None:
                break
            params = letterbox_params(rec["width"], rec["height"], ev.imgsz)
            rows = [(cls_of[a["category_id"]], a["bbox"], score) for a in anns.get(rec["id"], [])
                    if a["category_id"] in cls_of]
            rows += (extra or {}).get(rec["id"], [])
            for k, (c, (bx, by, bw, bh), s) in enumerate(rows):
                x1, y1, x2, y2 = boxes_to_letterbox(np.array([[bx, by, bx + bw, by + bh]]), params)[0]
                out[b, :4, k] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
                out[b, 4 + c, k] = s
        return out

    return predict


def test_perfect_predictions_give_ap_one(tmp_path):
    ann, folder = write_set(tmp_path)
    ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
    s = ev.evaluate_predictor(oracle(ev))
    assert s["mAP50_95"] == pytest.approx(1.0) and s["mAP50"] == pytest.approx(1.0)
    assert s["AR100"] == pytest.approx(1.0)
    assert {n: c["AP50_95"] for n, c in s["per_class"].items()} == pytest.approx({"person": 1.0, "cell phone": 1.0})
    assert s["per_class"]["person"]["instances"] == 3  # the crowd box is not an instance
    assert s["images"] == 3 and s["bad_images"] == [] and s["detections"] == 6
    assert s["precision"] == pytest.approx(1.0) and s["recall"] == pytest.approx(1.0)


def _gt(boxes, crowd=()):
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": b[2] * b[3],
             "iscrowd": int(i in crowd)} for i, b in enumerate(boxes)]
    return {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}], "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}


def _det(bbox, score):
    return {"image_id": 1, "category_id": 1, "bbox": bbox, "score": score}


def test_a_false_positive_at_a_known_score_gives_the_hand_computed_ap():
    a, b = [10, 10, 20, 20], [50, 50, 30, 30]
    gt = _gt([a, b])
    # ranked: TP 0.9, FP 0.8, TP 0.7 -> precision 1 up to recall 0.5, then 2/3 up to recall 1.
    s = score_detections(gt, [_det(a, 0.9), _det([0, 70, 10, 10], 0.8), _det(b, 0.7)], [1])
    # 101 recall points: 0.00..0.50 (51 points) at precision 1, 0.51..1.00 (50 points) at 2/3
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101
    assert s.stats["mAP50_95"] == pytest.approx(expected, abs=1e-9)
    assert s.stats["mAP50"] == pytest.approx(expected, abs=1e-9)
    # the false positive below both true positives costs nothing
    s = score_detections(gt, [_det(a, 0.9), _det(b, 0.7), _det([0, 70, 10, 10], 0.6)], [1])
    assert s.stats["mAP50_95"] == pytest.approx(1.0)


def test_detections_on_crowd_boxes_are_ignored():
    a, crowd = [10, 10, 20, 20], [50, 50, 40, 40]
    dets = [_det(crowd, 0.95), _det(a, 0.9)]
    assert score_detections(_gt([a, crowd], crowd=(1,)), dets, [1]).stats["mAP50_95"] == pytest.approx(1.0)
    # the same box as a normal annotation: now the 0.95 detection is a true positive and the
    # box is a second instance, so crowd handling is what made the first case perfect
    s = score_detections(_gt([a, crowd]), [_det(crowd, 0.95)], [1])
    assert s.stats["mAP50"] == pytest.approx(51 / 101)


def test_no_detections_scores_zero_not_an_error():
    s = score_detections(_gt([[10, 10, 20, 20]]), [], [1])
    assert s.stats["mAP50_95"] == 0.0 and s.per_class[1]["AP50"] == 0.0


@pytest.mark.parametrize("w,h", [(97, 61), (61, 97), (640, 480), (333, 500), (1, 300)])
def test_letterbox_inverse_is_exact(w, h):
    rng = np.random.default_rng(w * h)
    xy = rng.uniform(0, 1, (20, 2)) * [w, h]
    wh = rng.uniform(0, 1, (20, 2)) * ([w, h] - xy)
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    params = letterbox_params(w, h, 320)
    det = np.concatenate([boxes_to_letterbox(boxes, params), np.full((20, 1), 0.5), np.zeros((20, 1))], 1)
    got = np.array([r["bbox"] for r in detections_to_coco(det, params, 7, [1])])
    np.testing.assert_allclose(got[:, :2] + got[:, 2:], boxes[:, 2:], atol=1e-3)
    np.testing.assert_allclose(got[:, :2], boxes[:, :2], atol=1e-3)


def test_multi_label_nms_keeps_every_class_above_conf():
    out = np.zeros((1, 4 + 2, 3), np.float32)
    out[0, :4] = np.array([[20, 20, 10, 10], [21, 20, 10, 10], [60, 60, 8, 8]], np.float32).T
    out[0, 4:] = np.array([[0.9, 0.5], [0.8, 0.0005], [0.002, 0.003]], np.float32).T
    (det,) = non_max_suppression(out, conf=0.001, iou=0.7, multi_label=True)
    # anchor 0 as class 0 and class 1; anchor 1 suppressed by anchor 0 (class 0); anchor 2 twice
    np.testing.assert_allclose(sorted(map(tuple, det[:, 4:].tolist())), [(0.002, 0), (0.003, 1), (0.5, 1), (0.9, 0)],
                               rtol=1e-6)
    (single,) = non_max_suppression(out, conf=0.001, iou=0.7)
    assert len(single) == 2
    assert len(non_max_suppression(out, conf=0.001, iou=0.7, max_det=3, multi_label=True)[0]) == 3


def test_missing_and_corrupt_images_are_named_and_left_out(tmp_path):
    specs = SPECS + [(80, 80, [(1, [0, 0, 40, 40], 0)]), (90, 70, [(77, [5, 5, 20, 20], 0)])]
    ann, folder = write_set(tmp_path, specs)
    (folder / "0004.png").unlink()
    (folder / "0005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
    s = ev.evaluate_predictor(oracle(ev, skip={"0004.png", "0005.png"}))
    assert [b["file"] for b in s["bad_images"]] == ["0004.png", "0005.png"]
    assert "missing" in s["bad_images"][0]["reason"] and "decode" in s["bad_images"][1]["reason"]
    # their boxes left the ground truth too: otherwise they would be misses and AP < 1
    assert s["images"] == 3 and s["mAP50_95"] == pytest.approx(1.0)


def test_bad_input_gives_one_line_errors(tmp_path):
    ann, folder = write_set(tmp_path)
    not_coco = tmp_path / "list.json"
    not_coco.write_text(json.dumps([{"file": "a.png"}]))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": CATS}))
    cases = [(not_coco, folder, "JSON object"), (tmp_path / "nope.json", folder, "not found"),
             (empty, folder, "no images"), (ann, tmp_path / "nowhere", "image folder")]
    for a, f, words in cases:
        with pytest.raises(EvaluationError, match=words) as err:
            Evaluator(a, f, NAMES, imgsz=64, progress=False)
        assert "\n" not in str(err.value)
    for p in folder.iterdir():
        p.write_bytes(b"junk")
    ev = Evaluator(ann, folder, NAMES, imgsz=64, progress=False)
    with pytest.raises(EvaluationError, match="none of the 3 images"):
        ev.evaluate_predictor(oracle(ev))


def test_classes_are_matched_by_name_never_by_position(tmp_path):
    ann, folder = write_set(tmp_path)
    # reversed order: the model's class 0 is "cell phone"; the oracle follows the names
    ev = Evaluator(ann, folder, ["cell phone", "person"], imgsz=64, batch=4, progress=False)
    assert ev.category_ids == [77, 1]
    assert ev.evaluate_predictor(oracle(ev))["mAP50_95"] == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="none of the model's classes"):
        Evaluator(ann, folder, ["cat", "dog"], imgsz=64, progress=False)
    m = match_classes(["person", "dog"], CATS, [{"category_id": 77}, {"category_id": 1}])
    assert m.category_ids == (1, None) and m.model_classes_without_category == ["dog"]
    assert m.categories_without_model_class == {"cell phone": 1}
    with pytest.raises(EvaluationError, match="not unique"):
        match_classes(["person", "person"], CATS, [])


def test_detections_of_unmatched_classes_are_dropped(tmp_path):
    ann, folder = write_set(tmp_path)
    ev = Evaluator(ann, folder, ["person", "dog"], imgsz=64, batch=2, progress=False)
    s = ev.evaluate_predictor(oracle(ev, extra={1: [(1, [0, 0, 30, 30], 0.99)]}))
    assert s["model_classes_without_category"] == ["dog"]
    assert s["categories_without_model_class"] == {"cell phone": 2}
    assert list(s["per_class"]) == ["person"] and s["mAP50_95"] == pytest.approx(1.0)


def test_coco128_with_its_crowd_boxes(shared, tmp_path):
    """Real JPEGs and the real json (crowd boxes kept): perfect predictions still give 1.0."""
    root = shared / "data" / "coco128"
    data = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    crowd_images = {a["image_id"] for a in data["annotations"] if a["iscrowd"]}
    keep = {i["id"] for i in data["images"][:6]} | set(sorted(crowd_images)[:2])
    small = {**data, "images": [i for i in data["images"] if i["id"] in keep],
             "annotations": [a for a in data["annotations"] if a["image_id"] in keep]}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small))
    names = [c["name"] for c in data["categories"]]
    ev = Evaluator(path, root / "images", names, imgsz=320, batch=4, progress=False)
    s = ev.evaluate_predictor(oracle(ev))
    assert s["images"] == len(keep) and s["mAP50_95"] == pytest.approx(1.0)
    assert any(a["iscrowd"] for a in ev.last["gt"]["annotations"])


@pytest.fixture(scope="module")
def tiny_model():
    from yolo_lib.model import build_yolo11

    return build_yolo11("n", 2, seed=0)


def test_evaluate_a_model_compiles_once_and_reuses(tmp_path, tiny_model):
    ann, folder = write_set(tmp_path)
    ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
    first = ev.evaluate(tiny_model, engine="jax")
    again = ev.evaluate(tiny_model, engine="jax")
    assert [k for k in tiny_model.compiled if k[0] == "eval"] == [("eval", "decoded", 2, 64, 64)]
    for key in ("mAP50_95", "mAP50", "per_class", "images", "seconds"):
        assert key in first
    assert first["images"] == 3 and first["mAP50_95"] == again["mAP50_95"]
    assert 0 < first["detections"] <= 3 * 300  # random weights: many low-score boxes, at most 300 per image
    for r in ev.last["results"]:  # every box lies in its original image
        rec = next(i for i in ev.dataset["images"] if i["id"] == r["image_id"])
        x, y, w, h = r["bbox"]
        assert 0 <= x <= x + w <= rec["width"] + 1e-3 and 0 <= y <= y + h <= rec["height"] + 1e-3
    pictures = ev.save_pictures(tmp_path / "pics")
    assert [p.name for p in pictures] == ["boxes.png", "pr_curves.png", "confusion_matrix.png"]
    assert all(p.stat().st_size > 1000 for p in pictures)


def test_onnxruntime_engine_scores_like_the_jax_engine(tmp_path, tiny_model):
    """The ONNX export in onnxruntime gives the JAX engine's detections (float32 rounding apart)."""
    ann, folder = write_set(tmp_path)
    ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
    by_jax = ev.evaluate(tiny_model, engine="jax")
    jax_results = ev.last["results"]
    by_ort = ev.evaluate(tiny_model, engine="onnxruntime")
    assert (by_jax["engine"], by_ort["engine"]) == ("jax", "onnxruntime")
    assert by_ort["images"] == by_jax["images"] == 3
    assert abs(by_ort["detections"] - by_jax["detections"]) <= 3  # a score at the 0.001 threshold may flip
    assert by_ort["mAP50_95"] == pytest.approx(by_jax["mAP50_95"], abs=1e-4)
    best = lambda results: sorted(results, key=lambda r: -r["score"])[:20]  # noqa: E731
    for a, b in zip(best(jax_results), best(ev.last["results"])):
        assert (a["image_id"], a["category_id"]) == (b["image_id"], b["category_id"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        np.testing.assert_allclose(a["bbox"], b["bbox"], atol=2e-3)
    with pytest.raises(EvaluationError, match="engine must be one of"):
        ev.evaluate(tiny_model, engine="torch")
    assert ev.evaluate(tiny_model)["engine"] == "onnxruntime"  # auto, and JAX runs on the CPU here


def test_onnxruntime_session_is_reused_until_the_weights_change(tmp_path, tiny_model):
    """The export happens once per weights: same weights -> the cached session; a changed weight
    (as after a training epoch) -> a new export whose detections follow the new weights."""
    from yolo_lib.evaluate.evaluator import onnxruntime_predictor

    ann, folder = write_set(tmp_path)
    ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
    ev.evaluate(tiny_model, engine="onnxruntime")
    first_results = ev.last["results"]
    session = onnxruntime_predictor(tiny_model, 64)
    ev.evaluate(tiny_model, engine="onnxruntime")
    assert onnxruntime_predictor(tiny_model, 64) is session and ev.last["results"] == first_results
    bias = next(v for name, v in tiny_model.named_parameters() if "cv3" in name and name.endswith("bias"))
    old = bias.get_value()
    try:
        bias.set_value(old + np.float32(0.5))  # every class logit of one level up: other scores
        ev.evaluate(tiny_model, engine="onnxruntime")
        assert onnxruntime_predictor(tiny_model, 64) is not session
        assert ev.last["results"] != first_results
    finally:
        bias.set_value(old)
    ev.evaluate(tiny_model, engine="onnxruntime")
    assert ev.last["results"] == first_results


def test_command_line_on_a_tiny_set(tmp_path, tiny_model, capsys, monkeypatch):
    from yolo_lib import weights

    def load_into_tiny_model(sd):  # the file's weights go through load_state_dict; the compile is reused
        weights.load_state_dict(tiny_model, sd)
        return tiny_model

    monkeypatch.setattr(weights, "model_from_state_dict", load_into_tiny_model)
    ann, folder = write_set(tmp_path)
    npz = weights.save_npz(tiny_model, tmp_path / "w.npz", names=NAMES)
    assert weights.read_class_names(npz) == NAMES
    out = tmp_path / "out"
    rc = cli_main([str(npz), "--annotations", str(ann), "--images", str(folder), "--imgsz", "64", "--batch", "2",
                   "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["images"] == 3 and set(summary["per_class"]) == set(NAMES)
    assert len(json.loads((out / "predictions.json").read_text())) == summary["detections"]
    assert {p.name for p in out.iterdir()} == {"predictions.json", "boxes.png", "pr_curves.png",
                                               "confusion_matrix.png"}
    rc = cli_main([str(npz), "--annotations", str(ann), "--images", str(folder), "--imgsz", "64", "--batch", "2",
                   "--engine", "onnxruntime", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["engine"] == "onnxruntime"


def test_command_line_refuses_bad_weights_and_names_in_one_line(tmp_path, tiny_model, capsys):
    from yolo_lib import weights

    ann, folder = write_set(tmp_path)
    args = ["--annotations", str(ann), "--images", str(folder), "--imgsz", "64", "--no-progress"]
    sd = weights.state_dict(tiny_model)
    sd["model.0.conv.weight"] = sd["model.0.conv.weight"][:, :2]  # wrong shape
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{f"state_dict/{k}": v for k, v in sd.items()})
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    unnamed = weights.save_npz(tiny_model, tmp_path / "unnamed.npz")  # no names stored (an older file)
    assert weights.read_class_names(unnamed) is None
    with pytest.raises(ValueError, match="3 class names"):
        weights.save_npz(tiny_model, tmp_path / "x.npz", names=["a", "b", "c"])
    cases = [([str(bad)], "do not fit YOLO11"), ([str(garbage)], "cannot read weights"),
             ([str(tmp_path / "none.npz")], "no state-dict file"),
             ([str(unnamed), "--classes", "person"], "1 class names from --classes"),
             ([str(unnamed), "--classes", "cat,dog"], "none of the model's classes")]
    for extra, words in cases:
        assert cli_main(extra + args) == 1
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err, err


def random_scoring_case(seed: int, n_images: int = 12, with_dets: bool = True, grid: bool = False):
    """Ground truth with crowd boxes, all three area ranges, an image without boxes and a category
    without instances; detections near the boxes, duplicates, misses and strays, tied scores.
    ``grid``: every coordinate rounded to 4 pixels, so that IoUs fall exactly on the thresholds."""
    rng = np.random.default_rng(seed)
    snap = (lambda v: [float(np.round(x / 4) * 4) for x in v]) if grid else (lambda v: [float(x) for x in v])
    images = [{"id": i + 1, "file_name": f"{i}.jpg", "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 3, 7)]
    anns, dets = [], []
    for img in images[1:]:
        for _ in range(rng.integers(0, 8)):
            side = float(rng.choice([8, 24, 60, 150]))
            w, h = side * rng.uniform(0.6, 1.4, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            cat = int(rng.choice([1, 3]))
            x, y, w, h = snap([x, y, max(w, 4), max(h, 4)])
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": int(rng.random() < 0.1)})
            for _ in range(rng.integers(0, 3) if with_dets else 0):
                jitter = rng.normal(0, 0.15 * min(w, h), 4)
                dets.append({"image_id": img["id"], "category_id": cat if rng.random() < 0.9 else 7,
                             "bbox": snap([x + jitter[0], y + jitter[1], max(w + jitter[2], 4), max(h + jitter[3], 4)]),
                             "score": float(rng.choice([0.3, 0.5, 0.9]) if rng.random() < 0.3 else rng.random())})
        for _ in range(rng.integers(0, 4) if with_dets else 0):
            dets.append({"image_id": img["id"], "category_id": int(rng.choice([1, 3, 7])),
                         "bbox": snap([*rng.uniform(0, 400, 2), *rng.uniform(4, 200, 2)]), "score": float(rng.random())})
    return {"images": images, "annotations": anns, "categories": cats}, dets


@pytest.mark.parametrize("seed", range(8))
def test_faster_coco_eval_gives_pycocotools_numbers(seed):
    """The evaluator's scorer (faster-coco-eval) against the reference (pycocotools) on the same
    inputs: the same statistics, per-class APs and PR curves up to float64 rounding (the C++
    code sums in another order: measured differences <= 2.2e-16 over 200 such cases), the same
    undefined entries, and the same best-F1 precision, recall and confidence exactly."""
    gt, dets = random_scoring_case(seed, with_dets=seed != 5, grid=seed % 2 == 1)
    if seed == 4:  # more than 100 detections in one image: the maxDets cut
        dets += [{**d, "image_id": 2, "score": d["score"] / 2} for d in dets[:150]]
    ref = score_detections(gt, dets, [1, 3, 7], scorer="pycocotools")
    fast = score_detections(gt, dets, [1, 3, 7], scorer="faster-coco-eval")

    def same(got: dict, want: dict) -> bool:  # None (undefined) in the same places, numbers within 1e-12
        return got.keys() == want.keys() and all(
            (g is None) == (w is None) and (g is None or abs(g - w) <= 1e-12) for g, w in zip(got.values(), want.values()))

    assert same(fast.stats, ref.stats), (fast.stats, ref.stats)
    for cat, want in ref.per_class.items():
        assert same(fast.per_class[cat], want), (cat, fast.per_class[cat], want)
        np.testing.assert_allclose(fast.pr_curves[cat], ref.pr_curves[cat], rtol=0, atol=1e-12)
    assert (fast.precision, fast.recall, fast.confidence) == (ref.precision, ref.recall, ref.confidence)
    assert seed == 5 or ref.stats["mAP50_95"] > 0.05  # the cases are not all trivial zeros


def test_pictures_leave_a_notebooks_matplotlib_backend_alone(tmp_path, tiny_model):
    """Writing the pictures must not switch pyplot to Agg: a notebook would show no figure after it."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("module://matplotlib_inline.backend_inline")  # what a notebook runs on
    try:
        ann, folder = write_set(tmp_path)
        ev = Evaluator(ann, folder, NAMES, imgsz=64, batch=2, progress=False)
        ev.evaluate(tiny_model, engine="jax")
        figures = plt.get_fignums()
        ev.save_pictures(tmp_path / "pics")
        assert matplotlib.get_backend() == "module://matplotlib_inline.backend_inline"
        assert plt.get_fignums() == figures
    finally:
        plt.switch_backend(before)
