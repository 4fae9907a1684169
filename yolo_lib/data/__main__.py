"""Command line: ``python -m yolo_lib.data {synthetic,build,cache} ...``; prints a JSON summary.

    python -m yolo_lib.data synthetic --train 256 --val 64
    python -m yolo_lib.data build --split val --images 2000 --source http://images.cocodataset.org/val2017
    python -m yolo_lib.data build --split train --images 12000 --annotations PATH --source /data/train2017.zip
    python -m yolo_lib.data cache --dataset coco --split train --size 320

Exit status 2 with a one-line message on bad input (missing/malformed annotations, unknown class).
"""

from __future__ import annotations

import argparse
import json
import sys

from yolo_lib.data.build import build_coco_subset, open_dataset, synthetic_root
from yolo_lib.data.cache import CacheMismatchError
from yolo_lib.data.coco_subset import DEFAULT_CLASSES
from yolo_lib.data.synthetic import SyntheticSpec, write_synthetic


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
    b.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES), help="COCO names, in class-index order")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--annotations", help="instances json (default: download the official archive once)")
    b.add_argument("--source", help="images: base URL, folder or zip (default: each image's coco_url)")
    b.add_argument("--root", help="COCO folder (default: <data_dir>/coco)")
    b.add_argument("--workers", type=int, default=16)
    b.add_argument("--cache-size", type=int, default=0, help="also build the letterbox cache at this size")

    c = sub.add_parser("cache", help="build (or check) the letterboxed cache of a dataset")
    c.add_argument("--dataset", choices=("synthetic", "coco"), default="synthetic")
    c.add_argument("--split", choices=("train", "val"), default="train")
    c.add_argument("--size", type=int, default=320)
    c.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES))
    c.add_argument("--no-rebuild", action="store_true", help="refuse a cache made for other settings")
    for sp in (syn, b, c):
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    progress = not args.quiet
    try:
        if args.command == "synthetic":
            out = args.out or synthetic_root()
            summary = write_synthetic(out, SyntheticSpec(n_train=args.train, n_val=args.val, seed=args.seed), progress)
        elif args.command == "build":
            summary = build_coco_subset(args.split, args.images, args.classes, args.seed, args.annotations,
                                        args.source, args.root, args.workers, progress)
            if args.cache_size:
                ds = open_dataset("coco", args.split, args.cache_size, args.classes, root=args.root, progress=progress)
                summary["cache"] = ds.summary()
        else:
            ds = open_dataset(args.dataset, args.split, args.size, args.classes, rebuild=not args.no_rebuild,
                              progress=progress)
            summary = ds.summary()
    except (FileNotFoundError, ValueError, CacheMismatchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
