"""End-to-end training, ours vs Ultralytics' trainer: same synthetic COCO-format set, same settings.

    python benchmarks/bench_training.py --refpython /work/refvenv/bin/python \\
        [--imgsz 128 --batch 8 --epochs N] [--out runs/bench_training]
    # on a GPU: the throughput comparison at the full profile's image size
    python benchmarks/bench_training.py --refpython python3 --device 0 --imgsz 320 --batch 128 \\
        --epochs 3 --n-train 4096 --n-val 256 --workers 12 --processes 12

The data is the smoke profile's synthetic set (``SMOKE.n_train`` / ``SMOKE.n_val`` images, or
``--n-train`` / ``--n-val``). Both
train YOLO11n from scratch with the smoke profile's recipe (SGD, learning rates, nominal batch,
warm-up, loss gains, augmentation; passed to Ultralytics under its own names), the same epochs,
mosaic closed for the last ``--close-mosaic`` epochs, on the offline synthetic set: ours
with ``python -m yolo_lib.train``, Ultralytics with ``YOLO("yolo11n.yaml").train`` on a YOLO-format
copy of the same images and boxes (written here), on ``--device`` (``cpu``, or a GPU index:
ours then runs on JAX's default backend, the GPU; Ultralytics with its default automatic mixed
precision unless ``--no-amp``, ours in ``--precision``: ``tf32`` is the like-for-like partner
of ``--no-amp``, since PyTorch lets cuDNN run float32 convolutions in TF32 by default, and
``bfloat16`` that of AMP; its loader in ``--workers`` processes, ours in ``--processes``
worker processes, or threads when 0). Printed: each side's final
mAP50-95 and mAP50 (each side's own validator: ours COCOeval, theirs Ultralytics' own), wall
seconds, and training images per second (data, step, logging): ours from the trainer's summary
(without the first, compiling step and without the per-epoch evaluation); theirs = images / the
last epoch's cumulative ``time`` in results.csv, trained with ``val=False`` so that only the
final epoch is validated inside that time, and (with 3 epochs or more) "steady": the second
epoch alone, without the first one's warm-up and the last one's validation. Ratios ours/theirs.
Needs the reference environment (torch + ultralytics), never a project dependency.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.ops.precision import PRECISIONS
from yolo_lib.train.config import SMOKE
from yolo_lib.train.data import synthetic_source

ULTRALYTICS_SCRIPT = """
import json, sys, time
from ultralytics import YOLO
args = json.loads(sys.argv[1])
t = time.time()
model = YOLO("yolo11n.yaml")
model.train(data=args["yaml"], epochs=args["epochs"], imgsz=args["imgsz"], batch=args["batch"], device=args["device"],
            optimizer="SGD", workers=args["workers"], project=args["project"], name="ultralytics",
            exist_ok=True, seed=args["seed"], deterministic=False, amp=args["amp"], cache=args["cache"],
            plots=False, pretrained=False, verbose=False, val=False, **args["recipe"])
print("ULTRALYTICS_SECONDS", time.time() - t)
"""


def yolo_format_copy(source, root: Path) -> Path:
    """Write images + YOLO txt labels of both splits and a data yaml; returns the yaml path."""
    names = list(source.class_names)
    for split, ann, images in (("train", source.train_annotations, source.train_images),
                               ("val", source.val_annotations, source.val_images)):
        data = json.loads(Path(ann).read_text())
        cat_index = {c["id"]: names.index(c["name"]) for c in data["categories"] if c["name"] in names}
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        rows = {im["id"]: [] for im in data["images"]}
        for a in data["annotations"]:
            if a["category_id"] in cat_index:
                rows[a["image_id"]].append(a)
        for im in data["images"]:
            shutil.copy(Path(images) / im["file_name"], root / "images" / split / im["file_name"])
            w, h = im["width"], im["height"]
            lines = [f"{cat_index[a['category_id']]} {(a['bbox'][0] + a['bbox'][2] / 2) / w:.6f} "
                     f"{(a['bbox'][1] + a['bbox'][3] / 2) / h:.6f} {a['bbox'][2] / w:.6f} {a['bbox'][3] / h:.6f}"
                     for a in rows[im["id"]]]
            (root / "labels" / split / (Path(im["file_name"]).stem + ".txt")).write_text("\n".join(lines))
    yaml = root / "data.yaml"
    yaml.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n"
                    + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return yaml


def ultralytics_recipe(args) -> dict:
    """The smoke profile's recipe in Ultralytics' argument names (the same numbers on both sides)."""
    aug = SMOKE.augment
    return dict(lr0=SMOKE.lr0, lrf=SMOKE.lrf, momentum=SMOKE.momentum, weight_decay=SMOKE.weight_decay, nbs=SMOKE.nbs,
                warmup_epochs=SMOKE.warmup_epochs, warmup_momentum=SMOKE.warmup_momentum,
                warmup_bias_lr=SMOKE.warmup_bias_lr, cos_lr=SMOKE.cos_lr, box=SMOKE.box, cls=SMOKE.cls, dfl=SMOKE.dfl,
                close_mosaic=args.close_mosaic, mosaic=aug.mosaic, hsv_h=aug.hsv_h, hsv_s=aug.hsv_s, hsv_v=aug.hsv_v,
                fliplr=aug.fliplr, scale=aug.scale, translate=aug.translate)


def run_ours(args, out: Path) -> dict:
    cmd = [sys.executable, "-m", "yolo_lib.train", "--data", "synthetic", "--profile", "smoke", "--imgsz", str(args.imgsz),
           "--epochs", str(args.epochs), "--batch", str(args.batch), "--seed", "0", "--out", str(out), "--quiet",
           "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--processes", str(args.processes),
           "--precision", args.precision]
    cmd += ["--no-val"] if args.no_val else []
    t = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ours failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = time.time() - t
    return summary


def run_ultralytics(args, yaml: Path, project: Path) -> dict:
    payload = json.dumps({"yaml": str(yaml), "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch,
                          "device": args.device, "amp": args.amp, "cache": args.cache or False,
                          "workers": args.workers, "project": str(project),
                          "seed": 0, "recipe": ultralytics_recipe(args)})
    t = time.time()
    done = subprocess.run([args.refpython, "-c", ULTRALYTICS_SCRIPT, payload], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ultralytics failed: {done.stderr[-2000:]}")
    wall = time.time() - t
    rows = list(csv.DictReader(open(project / "ultralytics" / "results.csv")))
    rows = [{k.strip(): v for k, v in r.items()} for r in rows]
    seconds = [float(r["time"]) for r in rows]  # cumulative at each epoch's end
    per_epoch = args.n_train // args.batch * args.batch
    # steady: the second epoch alone (the first has the warm-up, the last the final validation)
    steady = per_epoch / (seconds[1] - seconds[0]) if len(seconds) >= 3 else None
    return {"mAP50_95": float(rows[-1]["metrics/mAP50-95(B)"]), "mAP50": float(rows[-1]["metrics/mAP50(B)"]),
            "wall_seconds": wall, "train_images_per_second": per_epoch * args.epochs / seconds[-1],
            "train_images_per_second_steady": steady}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--refpython", required=True, help="Python of an environment with torch + ultralytics")
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--epochs", type=int, default=SMOKE.epochs)
    p.add_argument("--close-mosaic", type=int, default=SMOKE.close_mosaic, help="as the smoke profile")
    p.add_argument("--n-train", type=int, default=SMOKE.n_train, help="synthetic training images")
    p.add_argument("--n-val", type=int, default=SMOKE.n_val, help="synthetic validation images")
    p.add_argument("--device", default="cpu", help="cpu, or the GPU index for Ultralytics (ours uses JAX's default)")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="Ultralytics in float32 on a GPU (default: its automatic mixed precision there)")
    p.add_argument("--precision", choices=tuple(PRECISIONS), default=DEFAULT_PRECISION,
                   help="our convolutions' arithmetic (yolo_lib.ops.precision)")
    p.add_argument("--workers", type=int, default=2, help="Ultralytics' loader processes")
    p.add_argument("--processes", type=int, default=0, help="our loader processes (0: threads)")
    p.add_argument("--cache", choices=("ram", "disk"), help="Ultralytics' image cache (default none; ours always "
                   "reads its letterbox cache)")
    p.add_argument("--no-val", action="store_true", help="ours without per-epoch evaluation (no mAP: a throughput "
                   "run; Ultralytics trains with val=False anyway, which validates the last epoch only)")
    p.add_argument("--out", type=Path, default=Path("runs/bench_training"))
    args = p.parse_args()
    source = synthetic_source(args.n_train, args.n_val)
    args.out.mkdir(parents=True, exist_ok=True)
    yaml = yolo_format_copy(source, args.out / "yolo_format")
    theirs = run_ultralytics(args, yaml, args.out)
    ours = run_ours(args, args.out / "ours")
    ratio = {k: (ours[k] / theirs[k] if ours.get(k) and theirs.get(k) else None)
             for k in ("mAP50_95", "train_images_per_second")}
    if theirs["train_images_per_second_steady"]:
        ratio["train_images_per_second_vs_steady"] = ours["train_images_per_second"] / theirs["train_images_per_second_steady"]
    print(json.dumps({"settings": vars(args) | {"out": str(args.out)}, "ours": ours, "ultralytics": theirs,
                      "ratio_ours_over_theirs": ratio}, indent=2, default=str))


if __name__ == "__main__":
    main()
