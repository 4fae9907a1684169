"""Parity and speed of ``python -m yolo_lib.evaluate`` against Ultralytics on a COCO-format set.

NEEDS torch + ultralytics (the reference venv); the workshop itself never requires them.
Steps (each a sub-command, run in order; files go to ``--work``, default /tmp/eval_parity):

    python scripts/eval_parity.py prepare   # COCO json + images -> the YOLO label layout Ultralytics reads
    python scripts/eval_parity.py train     # a short Ultralytics training run (no pretrained weights offline)
    python scripts/eval_parity.py reference --ours-python /work/venv/bin/python
        # Ultralytics' validator predictions (conf 0.001, IoU 0.7; square and rect batches) scored by
        # pycocotools, then `python -m yolo_lib.evaluate` on the converted weights; prints both

Speed is measured by ``benchmarks/bench_evaluate.py``.

Default set: ``../shared/data/coco128`` (the first 128 COCO train2017 images and their json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_SET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "coco128"


def _yolo_labels(annotations: Path, images: Path, root: Path) -> list[dict]:
    """Write ``root/images`` (links) and ``root/labels`` (YOLO txt) for a COCO json; its categories."""
    coco = json.loads(Path(annotations).read_text())
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cats)}
    sizes = {i["id"]: (i["width"], i["height"]) for i in coco["images"]}
    by_image: dict[int, list[str]] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        if a.get("iscrowd", 0) or w <= 0 or h <= 0:
            continue  # Ultralytics' own COCO conversion drops crowd boxes from the labels
        W, H = sizes[a["image_id"]]
        by_image.setdefault(a["image_id"], []).append(
            f"{index[a['category_id']]} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}")
    for img in coco["images"]:
        dst = root / "images" / img["file_name"]
        if not dst.exists():
            dst.symlink_to((Path(images) / img["file_name"]).resolve())
        (root / "labels" / (Path(img["file_name"]).stem + ".txt")).write_text(
            "\n".join(by_image.get(img["id"], [])) + "\n")
    return cats


def prepare(args) -> int:
    """Write the YOLO label layout of the evaluation set (and of a training set) and ``work/data.yaml``.

    Class order = the evaluation json's categories sorted by id; a training json must have the same.
    """
    work = Path(args.work)
    cats = _yolo_labels(args.annotations, args.images, work / "yolo_val")
    train_dir = "yolo_val"
    if args.train_annotations:
        train_cats = _yolo_labels(args.train_annotations, args.train_images, work / "yolo_train")
        if [c["name"] for c in train_cats] != [c["name"] for c in cats]:
            raise SystemExit("the training and evaluation jsons have different categories")
        train_dir = "yolo_train"
    names = "\n".join(f"  {i}: {json.dumps(c['name'])}" for i, c in enumerate(cats))
    (work / "data.yaml").write_text(f"path: {work}\ntrain: {train_dir}/images\nval: yolo_val/images\nnames:\n{names}\n")
    print(f"wrote {work / 'data.yaml'} ({len(cats)} classes)")
    return 0


def train(args) -> int:
    """Train yolo11n.yaml from scratch (no weights offline) briefly; copies best.pt to work/trained.pt."""
    import shutil

    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.train(data=str(Path(args.work) / "data.yaml"), epochs=args.epochs, imgsz=args.train_imgsz, batch=16,
                device="cpu", workers=args.workers, val=False, plots=False, project=str(Path(args.work) / "runs"),
                name="train", exist_ok=True, seed=0, amp=False,
                # fit the small set quickly: no mosaic, AdamW at a fixed learning rate (auto picks 1e-4 for 80 classes)
                optimizer="AdamW", lr0=0.002, warmup_epochs=1, mosaic=0.0)
    last = Path(args.work) / "runs" / "train" / "weights" / "last.pt"
    shutil.copy(last, Path(args.work) / "trained.pt")
    print(f"wrote {Path(args.work) / 'trained.pt'}")
    return 0


def _coco_map(annotations: Path, results: list[dict]) -> dict:
    """pycocotools COCOeval (bbox) of a results list against the json as it is (crowd boxes kept)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"mAP50_95": float(ev.stats[0]), "mAP50": float(ev.stats[1]), "AR100": float(ev.stats[8])}


def ultralytics_predictions(args, rect: bool) -> tuple[list[dict], dict]:
    """Ultralytics' validator (conf 0.001, IoU 0.7, max_det 300) on the set: its COCO json, its metrics.

    Its json numbers classes 1..nc for a custom set and takes image ids from file names; both are
    mapped back to the annotation's ids (categories by name, images by file name).
    """
    from ultralytics import YOLO

    coco = json.loads(Path(args.annotations).read_text())
    by_name = {c["name"]: c["id"] for c in coco["categories"]}
    by_file = {i["file_name"]: i["id"] for i in coco["images"]}
    model = YOLO(str(Path(args.work) / "trained.pt"))
    name = f"val_rect{int(rect)}"
    metrics = model.val(data=str(Path(args.work) / "data.yaml"), imgsz=args.imgsz, batch=16, conf=0.001, iou=0.7,
                        max_det=300, device="cpu", rect=rect, save_json=True, plots=False, workers=0,
                        project=str(Path(args.work) / "runs"), name=name, exist_ok=True, verbose=False)
    preds = json.loads((Path(args.work) / "runs" / name / "predictions.json").read_text())
    names = model.names
    results = [{"image_id": by_file[p["file_name"]], "category_id": by_name[names[p["category_id"] - 1]], "bbox": p["bbox"],
                "score": p["score"]} for p in preds]
    return results, {"mAP50_95": float(metrics.box.map), "mAP50": float(metrics.box.map50)}


def reference(args) -> int:
    """Convert the weights, score Ultralytics' predictions with pycocotools, run our command, compare."""
    import subprocess

    work = Path(args.work)
    npz = work / "trained.npz"
    subprocess.run([sys.executable, str(Path(__file__).parent / "pt_to_npz.py"), str(work / "trained.pt"), str(npz)],
                   check=True)
    report = {"set": str(args.annotations), "imgsz": args.imgsz}
    for rect in (False, True):
        results, own = ultralytics_predictions(args, rect)
        report[f"ultralytics_rect{int(rect)}"] = {"pycocotools": _coco_map(Path(args.annotations), results),
                                                  "ultralytics_metric": own, "detections": len(results)}
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cmd = [args.ours_python, "-m", "yolo_lib.evaluate", str(npz), "--annotations", str(args.annotations),
           "--images", str(args.images), "--imgsz", str(args.imgsz), "--batch", "16", "--out", str(work / "ours"),
           "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=repo)
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    ours = json.loads(done.stdout)
    report["ours"] = {k: ours[k] for k in ("mAP50_95", "mAP50", "AR100", "detections", "images", "seconds")}
    report["ours_predictions_scored_by_pycocotools"] = _coco_map(
        Path(args.annotations), json.loads((work / "ours" / "predictions.json").read_text()))
    ref = report["ultralytics_rect0"]["pycocotools"]["mAP50_95"]
    report["difference_mAP50_95"] = ours["mAP50_95"] - ref
    report["within_0.005"] = abs(ours["mAP50_95"] - ref) <= 0.005
    report["command"] = " ".join(cmd)
    (work / "parity.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if report["within_0.005"] else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["prepare", "train", "reference"])
    p.add_argument("--annotations", default=str(DEFAULT_SET / "annotations" / "instances_train2017.json"))
    p.add_argument("--images", default=str(DEFAULT_SET / "images"))
    p.add_argument("--train-annotations", help="train on another COCO json (default: the evaluation set)")
    p.add_argument("--train-images")
    p.add_argument("--work", default="/tmp/eval_parity")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--train-imgsz", type=int, default=320)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--ours-python", default="/work/venv/bin/python", help="python of the yolo_lib environment")
    args = p.parse_args(argv)
    return {"prepare": prepare, "train": train, "reference": reference}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
