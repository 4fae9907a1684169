"""``python -m yolo_lib.evaluate WEIGHTS --annotations FILE --images DIR``: COCO mAP as one JSON line.

Prints the summary of :meth:`yolo_lib.evaluate.Evaluator.evaluate` (``mAP50_95``, ``mAP50``,
``per_class``, ``images``, ``seconds``, ``engine``, ...) on stdout; notes and errors go to stderr as one
line each; exit status 0 on success, 1 on bad input, 130 on Ctrl-C or SIGTERM (one line, see
:mod:`yolo_lib.cli.runner`). With ``--out DIR`` it also
writes ``predictions.json`` (COCO results) and the pictures of :mod:`yolo_lib.evaluate.pictures`.

Class names: those stored in the weights (``meta/names``), else ``--classes``; ``--classes``
always wins. Weights without names and without ``--classes`` are scored with the annotation
categories in id order if the counts agree (a note says so), else refused.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import zipfile
from pathlib import Path

from yolo_lib.evaluate.classes import EvaluationError
from yolo_lib.evaluate.coco_metrics import SCORERS
from yolo_lib.evaluate.evaluator import ENGINES
from yolo_lib.cli.runner import run_command
from yolo_lib.task import IMGSZ


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", type=Path, help="state-dict .npz (yolo_lib.weights.save_npz or scripts/pt_to_npz.py)")
    p.add_argument("--annotations", type=Path, required=True, help="COCO instances json")
    p.add_argument("--images", type=Path, required=True, help="folder holding the json's file_name entries")
    p.add_argument("--imgsz", type=int, default=IMGSZ, help="letterbox side in pixels (multiple of 32)")
    p.add_argument("--batch", type=int, default=16, help="images per compiled call")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="jax: the compiled PyTensor function; onnxruntime: the model's ONNX export (faster on "
                        "a CPU, no compile); auto (default): onnxruntime when JAX runs on the CPU, else jax")
    p.add_argument("--scorer", choices=SCORERS, default="faster-coco-eval",
                   help="COCOeval implementation: faster-coco-eval (C++), or pycocotools (the reference)")
    p.add_argument("--classes", nargs="+", help='model class names in index order, e.g. "person,cell phone"')
    p.add_argument("--out", type=Path, help="write predictions.json and pictures here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def load_model(path: Path):
    """(model, stored class names or None) from a state-dict .npz; EvaluationError on bad files."""
    from yolo_lib import weights

    try:
        sd = weights.read_npz(path)
        names = weights.read_class_names(path)
    except FileNotFoundError as e:
        raise EvaluationError(str(e)) from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise EvaluationError(f"cannot read weights {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    try:
        model = weights.model_from_state_dict(sd)
    except weights.StateDictError as e:
        lines = str(e).splitlines()
        detail = next((ln.strip() for ln in lines[1:] if ln.startswith("  ")), "")
        raise EvaluationError(f"weights {path} do not fit YOLO11: {lines[0]}" + (f"; first: {detail}" if detail else "")) from None
    return model, names


def class_names(stored, override, nc: int, categories: list[dict]) -> list[str]:
    """The model's class names: --classes, else stored, else annotation order (with a note)."""
    if override:
        names = [n.strip() for item in override for n in item.split(",") if n.strip()]
        source = "--classes"
    elif stored:
        names, source = stored, "the weights"
    else:
        cats = sorted(categories, key=lambda c: c["id"])
        if len(cats) != nc:
            raise EvaluationError(f"the weights carry no class names and have nc={nc} classes but the annotations "
                                  f"have {len(cats)} categories; pass the names with --classes")
        names = [c["name"] for c in cats]
        _note(f"the weights carry no class names; using the {nc} annotation categories in id order")
        source = "annotation order"
    if len(names) != nc:
        raise EvaluationError(f"{len(names)} class names from {source} but the weights have nc={nc} classes")
    return names


def run(args: argparse.Namespace) -> dict:
    from yolo_lib.evaluate.dataset import read_annotations
    from yolo_lib.evaluate.evaluator import Evaluator

    model, stored = load_model(args.weights)
    categories = read_annotations(args.annotations)["categories"]
    names = class_names(stored, args.classes, model.nc, categories)
    ev = Evaluator(args.annotations, args.images, names, imgsz=args.imgsz, batch=args.batch,
                   progress=not args.no_progress, scorer=args.scorer)
    for name in ev.classes.model_classes_without_category:
        _note(f"model class {name!r} is not an annotation category: its detections are not scored")
    for name, n in ev.classes.categories_without_model_class.items():
        _note(f"annotation category {name!r} ({n} boxes) is not a model class: not in the mean")
    summary = ev.evaluate(model, engine=args.engine)
    for bad in summary["bad_images"]:
        _note(f"left out {bad['file']}: {bad['reason']}")
    if args.out:
        ev.save_results(args.out)
        ev.save_pictures(args.out)
    return summary


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    return run_command(lambda _: run(args), errors=(EvaluationError,),
                       interrupts=("evaluation", "python -m yolo_lib.evaluate " + shlex.join(argv)))


if __name__ == "__main__":
    sys.exit(main())
