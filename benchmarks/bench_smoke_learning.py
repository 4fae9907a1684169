"""How far a short training on the synthetic set gets: mAP50 and seconds per epoch of a smoke candidate.

    python benchmarks/bench_smoke_learning.py                                  # SMOKE as it is
    python benchmarks/bench_smoke_learning.py --set nbs=64 --set seed=1        # SMOKE with changes
    python benchmarks/bench_smoke_learning.py --set epochs=10 --set augment.mosaic=0 --set close_mosaic=0

Trains :data:`yolo_lib.train.config.SMOKE` (changed by ``--set name=value``, ``augment.name``
for the augmentation) with :class:`~yolo_lib.train.Trainer` on the synthetic set, plots and ONNX
export off, and prints one JSON line per epoch: mAP50, mAP50-95 and the loss items of the EMA
weights, the wall seconds since the previous line (training + evaluation; the first epoch also
builds the trainer and compiles or loads the step and the evaluator) and the 1-minute load
average at its end (the machine is shared; this run's own 2 busy threads read as ~2 on 2 cores),
then the Trainer's summary. Used to choose SMOKE and
:data:`~yolo_lib.train.config.SMOKE_MIN_MAP50` (docs/benchmarks.md, "Smoke training").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import yolo_lib  # noqa: F401  (float32 and XLA defaults before pytensor/jax)
from yolo_lib.notebook.profile import configure_pytensor
from yolo_lib.train import SMOKE, Trainer, synthetic_source


def changed_config(assignments: list[str]):
    """SMOKE with ``name=value`` changes (values parsed as JSON, else kept as text)."""
    top, augment = {}, {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs name=value, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if name.startswith("augment."):
            augment[name.removeprefix("augment.")] = value
        else:
            top[name] = value
    cfg = dataclasses.replace(SMOKE, plots=False, export_onnx=False, **top)
    return dataclasses.replace(cfg, augment=dataclasses.replace(cfg.augment, **augment))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a SMOKE setting")
    p.add_argument("--out", help="run folder (default: a temporary folder)")
    args = p.parse_args()
    cfg = changed_config(args.set)
    configure_pytensor()
    source = synthetic_source(cfg.n_train, cfg.n_val, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, source, args.out or tmp, progress=False, log=lambda *a: None)
        last = [time.time()]

        def report(row):
            now = time.time()
            print(json.dumps({"epoch": row["epoch"], "mAP50": round(row["metrics/mAP50(B)"], 4),
                              "mAP50_95": round(row["metrics/mAP50-95(B)"], 4),
                              "loss": [round(row[f"train/{k}_loss"], 3) for k in ("box", "cls", "dfl")],
                              "s": round(now - last[0], 1), "load": round(os.getloadavg()[0], 2)}), flush=True)
            last[0] = now

        trainer.on_epoch_end = report
        print(json.dumps({"changes": args.set, "load": round(os.getloadavg()[0], 2)}), flush=True)
        summary = trainer.fit()
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
