"""``python -m yolo_lib.export WEIGHTS.npz [--out FILE.onnx] [--imgsz H [W]] [--opset 18]``

Builds YOLO11 from a state dict (a training checkpoint written by ``yolo_lib.weights.save_npz``
or a reference npz such as ``../shared/fixtures/yolo11n_nc2_320.npz``), exports it to ONNX,
runs ``onnx.checker`` (full check) and prints a JSON summary: opset, node count by op type,
file size and parity figures (onnxruntime vs PyTensor's own evaluation; vs the reference's
``eval/inference_out`` when the npz carries one). The image size defaults to that of the
reference's ``input/img``, else 320. Exit status 1 (:mod:`yolo_lib.cli.runner`) with one line for
bad input, or with the summary when a parity check fails; Ctrl-C (or SIGTERM) stops at once with
status 130 and the command to run again. The file appears under its name only when complete.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx

from yolo_lib.cli.runner import CommandError, Outcome, run_command
from yolo_lib.files import atomic_path
from yolo_lib.task import IMGSZ


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.export", description=__doc__.split("\n\n")[1])
    p.add_argument("weights", type=Path, help="state-dict .npz (checkpoint or reference fixture)")
    p.add_argument("--out", type=Path, help="output .onnx (default: <weights stem>.onnx in the current folder)")
    p.add_argument("--imgsz", type=int, nargs="+",
                   help=f"H [W], multiples of 32 (default: the reference's image size, else {IMGSZ})")
    p.add_argument("--opset", type=int, default=18, choices=(17, 18))
    p.add_argument("--dynamic-size", action="store_true",
                   help="dynamic image height/width too (default: only the batch axis is dynamic)")
    p.add_argument("--names", help="comma-separated class names (default: 0, 1, ...)")
    p.add_argument("--parity-batch", type=int, default=1,
                   help="images for the PyTensor parity check (0 skips it; about seconds per image)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    return run_command(lambda _: export(args), indent=2,
                       interrupts=("ONNX export", "python -m yolo_lib.export " + shlex.join(argv)))


def export(args: argparse.Namespace) -> Outcome:
    """Export, check and compare; the summary is ok when every parity comparison is."""
    if not args.weights.is_file():
        raise CommandError(f"no weights file at {args.weights}")
    from yolo_lib.export.report import parity_vs_pytensor, parity_vs_reference, summary
    from yolo_lib.export.yolo import export_yolo, image_size
    from yolo_lib.weights import model_from_state_dict, read_npz

    try:
        with np.load(args.weights) as z:
            has_ref = {"input/img", "eval/inference_out"} <= set(z.files)
            images = z["input/img"] if has_ref else None
            reference = z["eval/inference_out"] if has_ref else None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise CommandError(f"cannot read {args.weights} as an .npz file ({e})") from None
    requested = args.imgsz or (list(images.shape[2:]) if images is not None else [IMGSZ])
    try:  # bad sizes, names or state dicts: one clear line, not a traceback
        imgsz = image_size(requested[0] if len(requested) == 1 else requested)
        model = model_from_state_dict(read_npz(args.weights))
        names = [n.strip() for n in args.names.split(",")] if args.names else None
        onnx_model = export_yolo(model, imgsz, opset=args.opset, names=names, dynamic_size=args.dynamic_size)
    except ValueError as e:
        raise CommandError(str(e)) from None
    out = args.out or Path(args.weights.stem + ".onnx")
    with atomic_path(out) as part:  # an interrupted save never looks like a finished file
        onnx.save(onnx_model, str(part))
    onnx.checker.check_model(str(out), full_check=True)

    result = summary(onnx_model, out)
    result["checker"] = "passed (full_check)"
    parity = {}
    if images is not None and tuple(images.shape[2:]) == imgsz:
        parity["vs_reference"] = parity_vs_reference(onnx_model, images, reference)
    if args.parity_batch > 0:
        if images is None or tuple(images.shape[2:]) != imgsz:
            images = np.random.default_rng(0).random((args.parity_batch, 3, *imgsz), dtype=np.float32)
        parity["vs_pytensor"] = parity_vs_pytensor(onnx_model, model, images[: args.parity_batch])
    result["parity"] = parity
    return Outcome(result, ok=all(p["ok"] for p in parity.values()))


if __name__ == "__main__":
    sys.exit(main())
