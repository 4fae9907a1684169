"""``python -m yolo_lib.train``: train YOLO11n and print one JSON summary line at the end.

Examples::

    python -m yolo_lib.train --data synthetic --profile smoke --out runs/smoke
    python -m yolo_lib.train --data coco --profile full --out runs/coco320
    python -m yolo_lib.train --train-annotations a.json --train-images imgs/ \\
        --val-annotations b.json --val-images vimgs/ --classes person "cell phone" --out runs/mine
    python -m yolo_lib.train --resume runs/coco320      # after Ctrl-C, kill or a lost connection
    python -m yolo_lib.train --data coco --profile full --batch 512 --devices 8   # data parallel
    python -m yolo_lib.train --data coco --profile full --precision bfloat16     # mixed precision

Exit status (:mod:`yolo_lib.cli.runner`): 0 done, 1 error (one line), 130 interrupted (state saved;
the resume command is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import yolo_lib  # noqa: F401  (float32 and XLA defaults before pytensor/jax)
from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.ops.precision import PRECISIONS
from yolo_lib.task import CLASS_NAMES


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=("smoke", "full"), default="smoke",
                   help="starting configuration (yolo_lib.train.config SMOKE / FULL); options below override it")
    p.add_argument("--data", choices=("synthetic", "coco"), help="built-in data set (default synthetic)")
    for split in ("train", "val"):
        p.add_argument(f"--{split}-annotations", type=Path, help=f"COCO-format {split} json")
        p.add_argument(f"--{split}-images", type=Path, help=f"{split} image folder")
    p.add_argument("--classes", nargs="+", default=list(CLASS_NAMES), help="class names to train")
    p.add_argument("--imgsz", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--n-train", type=int, help="synthetic set: training images (the profile's by default)")
    p.add_argument("--n-val", type=int, help="synthetic set: validation images")
    p.add_argument("--processes", type=int, help="augment in this many worker processes (0: threads; "
                   "the full profile uses 8)")
    p.add_argument("--precision", choices=tuple(PRECISIONS), help="arithmetic of the convolutions: "
                   + "; ".join(f"{k}: {v}" for k, v in PRECISIONS.items()) + f" (default {DEFAULT_PRECISION})")
    p.add_argument("--no-val", action="store_true", help="skip the per-epoch evaluation (best = last)")
    p.add_argument("--weights", type=Path, help="initialise from a state-dict npz (80 COCO classes: rows selected)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<data>_<imgsz>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--devices", type=int, help="data parallel: split each batch over this many devices "
                   "(default all devices of JAX's default backend; 1 = one device); the batch must divide by it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def build_config(args):
    from yolo_lib.train.config import FULL, SMOKE

    cfg = SMOKE if args.profile == "smoke" else FULL
    names = ("imgsz", "epochs", "batch", "seed", "processes", "n_train", "n_val", "precision")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.no_val:
        overrides["val"] = False
    return dataclasses.replace(cfg, **overrides)


def build_source(args, cfg):
    from yolo_lib.train.data import DataError, DataSource, coco_source, synthetic_source

    custom = [args.train_annotations, args.train_images, args.val_annotations, args.val_images]
    if any(v is not None for v in custom):
        if args.data or not all(v is not None for v in custom):
            raise DataError("a custom data set needs all four of --train-annotations --train-images "
                            "--val-annotations --val-images (and no --data)")
        return DataSource("custom", *custom, class_names=tuple(args.classes))
    if args.data == "coco":
        return coco_source(args.classes)
    return synthetic_source(cfg.n_train, cfg.n_val, progress=not args.quiet)


def main(argv=None) -> int:
    args = parse_args(argv)
    from yolo_lib.cli.runner import run_command
    from yolo_lib.train.data import DataError
    from yolo_lib.train.loop import NonFiniteLossError
    from yolo_lib.weights import CheckpointError

    return run_command(lambda _: train(args),
                       errors=(DataError, CheckpointError, NonFiniteLossError, FileNotFoundError, OSError, ValueError))


def train(args: argparse.Namespace) -> dict:
    """Build (or resume) the run and train it; Ctrl-C saves and prints the resume command."""
    from yolo_lib.cli.interrupts import handle_interrupts
    from yolo_lib.train.loop import Trainer

    if args.resume is not None:
        explicit = args.data or args.train_annotations
        source = build_source(args, None) if explicit else None
        trainer = Trainer.from_run(args.resume, progress=not args.quiet, source=source, devices=args.devices)
    else:
        cfg = build_config(args)
        source = build_source(args, cfg)
        out = args.out or Path("runs") / f"{source.name}_{cfg.imgsz}"
        trainer = Trainer(cfg, source, out, weights=args.weights, progress=not args.quiet, devices=args.devices)
    with handle_interrupts(f"training {trainer.out}", trainer.resume_hint) as status:
        status.progress = trainer.interrupt_note
        return trainer.fit()


if __name__ == "__main__":
    sys.exit(main())
