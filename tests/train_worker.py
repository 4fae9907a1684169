"""Subprocess for tests/test_train_resume.py: a tiny training run, fresh or resumed.

``python tests/train_worker.py RUN_DIR [--resume] [--pause-at EPOCH:BATCH] [--processes N]``
(``--processes``: a fresh run augments in N worker processes; a resumed one keeps its setting). With ``--pause-at``
the run stops before that batch (0-based epoch and batch index), writes ``RUN_DIR/paused`` and
waits there (up to a minute, or until a Ctrl-C arrives): a fixed mid-epoch moment for the tests'
signals, whatever the machine's speed.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import yolo_lib  # noqa: F401
from yolo_lib.notebook.profile import configure_pytensor
from yolo_lib.train import SMOKE, Trainer, TrainingInterrupted, synthetic_source

#: Shapes shared by every compiled-step test (one XLA compilation, reused through JAX's cache).
TINY = dataclasses.replace(SMOKE, imgsz=64, batch=2, n_train=8, n_val=4, epochs=3, close_mosaic=1, val=False,
                           max_boxes=8, log_every=2, plots=False, warmup_epochs=1.0, workers=1,
                           nbs=4)  # accumulate 2: optimizer steps every other iteration after warm-up


def pause_before(trainer: Trainer, epoch: int, batch: int, marker: Path) -> None:
    """Make ``trainer`` wait before fetching batch ``batch`` of epoch ``epoch`` (see module docstring)."""
    batches_of = trainer.loader.epoch

    def epoch_with_pause(e, start_batch=0):
        for i, b in enumerate(batches_of(e, start_batch=start_batch), start_batch):
            if (e, i) == (epoch, batch):
                marker.write_text(f"{e}:{i}")
                deadline = time.time() + 60
                while not trainer.stop_requested and time.time() < deadline:
                    time.sleep(0.02)
            yield b

    trainer.loader.epoch = epoch_with_pause


def main(run_dir: str, resume: bool, pause_at: str | None, processes: int = 0) -> int:
    configure_pytensor()
    try:
        if resume:
            trainer = Trainer.from_run(run_dir, progress=False)
        else:
            cfg = dataclasses.replace(TINY, processes=processes)
            trainer = Trainer(cfg, synthetic_source(cfg.n_train, cfg.n_val, progress=False), run_dir, progress=False)
        if pause_at:
            trainer.build()
            epoch, batch = map(int, pause_at.split(":"))
            pause_before(trainer, epoch, batch, Path(run_dir) / "paused")
        print(json.dumps(trainer.fit()), flush=True)
    except TrainingInterrupted as e:
        print(e, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    args = sys.argv[2:]

    def option(name):
        return args[args.index(name) + 1] if name in args else None

    sys.exit(main(sys.argv[1], "--resume" in args, option("--pause-at"), int(option("--processes") or 0)))
