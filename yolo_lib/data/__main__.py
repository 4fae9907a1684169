"""Command line: ``python -m yolo_lib.data {synthetic,build,cache,download-weights} ...``; prints a JSON summary.

    python -m yolo_lib.data synthetic --train 256 --val 64
    python -m yolo_lib.data build --split val --images 2000 --source http://images.cocodataset.org/val2017
    python -m yolo_lib.data build --split train --images 12000 --annotations PATH --source /data/train2017.zip
    python -m yolo_lib.data cache --dataset coco --split train --size 320
    python -m yolo_lib.data download-weights   # official yolo11n.pt -> <data_dir>/yolo11n.pt, SHA-256 checked

Exit status 1 with a one-line message on bad input (missing/malformed annotations, unknown class),
as every command (:mod:`yolo_lib.cli.runner`). Ctrl-C (or SIGTERM) stops at once with exit status
130 and one line giving the images done and the command that resumes (completed images are kept;
an interrupted cache is rebuilt).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from yolo_lib.data.build import COCO_SPLITS, build_coco_subset, coco_root, open_dataset, synthetic_root
from yolo_lib.data.cache import CacheMismatchError
from yolo_lib.data.download import DownloadError
from yolo_lib.data.synthetic import SyntheticSpec, write_synthetic
from yolo_lib.cli.runner import run_command
from yolo_lib.task import CLASS_NAMES
from yolo_lib.weights.pretrained import download_weights


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.data", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    syn = sub.add_parser("synthetic", help="write the offline synthetic COCO-format set")
    syn.add_argument("--out", help="folder (default: <data_dir>/synthetic)")
    syn.add_argument("--train", type=int, default=SyntheticSpec.n_train)
    syn.add_argument("--val", type=int, default=SyntheticSpec.n_val)
    syn.add_argument("--seed", type=int, default=0)

    b = sub.add_parser("build", help="select a COCO subset and download only its images")
    b.add_argument("--split", choices=("train", "val"), default="train")
    b.add_argument("--images", type=int, default=None, help="image count (default 12000 train, 2000 val; 0 = all)")
    b.add_argument("--classes", nargs="+", default=list(CLASS_NAMES), help="COCO names, in class-index order")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--annotations", help="instances json (default: download the official archive once)")
    b.add_argument("--source", help="images: base URL, folder or zip (default: each image's coco_url)")
    b.add_argument("--root", help="COCO folder (default: <data_dir>/coco)")
    b.add_argument("--workers", type=int, default=16)
    b.add_argument("--timeout", type=float, default=60.0, help="seconds a download may wait for data (default 60)")
    b.add_argument("--cache-size", type=int, default=0, help="also build the letterbox cache at this size")

    c = sub.add_parser("cache", help="build (or check) the letterboxed cache of a dataset")
    c.add_argument("--dataset", choices=("synthetic", "coco"), default="synthetic")
    c.add_argument("--split", choices=("train", "val"), default="train")
    c.add_argument("--size", type=int, default=320)
    c.add_argument("--classes", nargs="+", default=list(CLASS_NAMES))
    c.add_argument("--no-rebuild", action="store_true", help="refuse a cache made for other settings")
    w = sub.add_parser("download-weights", help="download the official yolo11n.pt once (SHA-256 verified)")
    w.add_argument("--url", help="source (default $YOLO_WEIGHTS_URL or the Ultralytics release asset)")
    w.add_argument("--sha256", help="expected checksum (default $YOLO_WEIGHTS_SHA256 or the official one)")
    w.add_argument("--out", help="file (default <data_dir>/yolo11n.pt)")
    for sp in (syn, b, c, w):
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def images_done(image_dir: Path) -> str:
    """Progress text for the interrupted line: the image files complete under their final name."""
    done = sum(1 for f in image_dir.glob("*") if f.is_file() and not f.name.endswith(".part"))
    return f"{done} images done in {image_dir}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    return run_command(lambda status: run(args, status), indent=2,
                       errors=(FileNotFoundError, ValueError, CacheMismatchError, DownloadError),
                       interrupts=(f"data {args.command}", "python -m yolo_lib.data " + shlex.join(argv)))


def run(args: argparse.Namespace, status) -> dict:
    """The summary of the sub-command ``args.command``; sets ``status.progress`` for an interruption."""
    progress = not args.quiet
    if args.command == "synthetic":
        out = args.out or synthetic_root()
        spec = SyntheticSpec(n_train=args.train, n_val=args.val, seed=args.seed)
        return write_synthetic(out, spec, progress)
    if args.command == "build":
        image_dir = coco_root(args.root) / "images" / COCO_SPLITS[args.split]
        status.progress = lambda: images_done(image_dir)
        summary = build_coco_subset(args.split, args.images, args.classes, args.seed, args.annotations,
                                    args.source, args.root, args.workers, progress, args.timeout)
        if args.cache_size:
            status.progress = "images complete; the cache is rebuilt from the start"
            ds = open_dataset("coco", args.split, args.cache_size, args.classes, root=args.root, progress=progress)
            summary["cache"] = ds.summary()
        return summary
    if args.command == "download-weights":
        status.progress = "the download resumes from its .part file"
        return download_weights(args.out, args.url, args.sha256)
    status.progress = "the cache is rebuilt from the start"
    ds = open_dataset(args.dataset, args.split, args.size, args.classes, rebuild=not args.no_rebuild, progress=progress)
    return ds.summary()


if __name__ == "__main__":
    sys.exit(main())
