"""Parity and speed of ``python -m yolo_lib.evaluate`` against Ultralytics on a COCO-format set.

NEEDS torch + ultralytics (the reference venv); the workshop itself never requires them.
Steps (each a sub-command, run in order; files go to ``--work``, default /tmp/eval_parity):

    python scripts/eval_parity.py prepare   # COCO json + images -> the YOLO label layout Ultralytics reads
    python scripts/eval_parity.py train     # a short Ultralytics training run (no pretrained weights offline)
    python scripts/eval_parity.py reference # Ultralytics' predictions (conf 0.001, IoU 0.7) scored by pycocotools
    python scripts/eval_parity.py speed --ours-python /work/venv/bin/python   # alternating timing rounds

Default set: ``../shared/data/coco128`` (the first 128 COCO train2017 images and their json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_SET = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "coco128"


def prepare(args) -> int:
    """Write ``work/yolo/{images,labels}`` and ``work/data.yaml`` (names in annotation order)."""
    coco = json.loads(Path(args.annotations).read_text())
    root = Path(args.work) / "yolo"
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    index = {c["id"]: i for i, c in enumerate(cats)}
    by_image: dict[int, list[str]] = {}
    for a in coco["annotations"]:
        if a.get("iscrowd", 0):
            continue  # Ultralytics' own COCO conversion drops crowd boxes from training labels
        by_image.setdefault(a["image_id"], [])
        x, y, w, h = a["bbox"]
        if w <= 0 or h <= 0:
            continue
        img = images[a["image_id"]] if (images := {i["id"]: i for i in coco["images"]}) else None
        W, H = img["width"], img["height"]
        by_image[a["image_id"]].append(
            f"{index[a['category_id']]} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}")
    for img in coco["images"]:
        src = Path(args.images) / img["file_name"]
        dst = root / "images" / img["file_name"]
        if not dst.exists():
            dst.symlink_to(src.resolve())
        (root / "labels" / (Path(img["file_name"]).stem + ".txt")).write_text(
            "\n".join(by_image.get(img["id"], [])) + "\n")
    names = "\n".join(f"  {i}: {json.dumps(c['name'])}" for i, c in enumerate(cats))
    yaml = f"path: {root}\ntrain: images\nval: images\nnames:\n{names}\n"
    (Path(args.work) / "data.yaml").write_text(yaml)
    print(f"wrote {len(coco['images'])} label files and {Path(args.work) / 'data.yaml'}")
    return 0


def train(args) -> int:
    """Train yolo11n.yaml from scratch (no weights offline) briefly; copies best.pt to work/trained.pt."""
    import shutil

    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.train(data=str(Path(args.work) / "data.yaml"), epochs=args.epochs, imgsz=args.imgsz, batch=16,
                device="cpu", workers=args.workers, val=False, plots=False, project=str(Path(args.work) / "runs"),
                name="train", exist_ok=True, seed=0, amp=False,
                # fit the small set quickly: no mosaic, AdamW at a fixed learning rate (auto picks 1e-4 for 80 classes)
                optimizer="AdamW", lr0=0.002, warmup_epochs=1, mosaic=0.0)
    last = Path(args.work) / "runs" / "train" / "weights" / "last.pt"
    shutil.copy(last, Path(args.work) / "trained.pt")
    print(f"wrote {Path(args.work) / 'trained.pt'}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["prepare", "train", "reference", "speed"])
    p.add_argument("--annotations", default=str(DEFAULT_SET / "annotations" / "instances_train2017.json"))
    p.add_argument("--images", default=str(DEFAULT_SET / "images"))
    p.add_argument("--work", default="/tmp/eval_parity")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    return {"prepare": prepare, "train": train}[args.step](args)


if __name__ == "__main__":
    sys.exit(main())
