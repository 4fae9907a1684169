"""Subprocess for tests/test_train_resume.py: a tiny training run, fresh or resumed.

``python tests/train_worker.py RUN_DIR [--resume]`` (the tests kill it at chosen moments).
"""

import dataclasses
import json
import sys
import time

import yolo_lib  # noqa: F401
from yolo_lib.profile import configure_pytensor
from yolo_lib.train import SMOKE, Trainer, TrainingInterrupted, synthetic_source

#: Shapes shared by every compiled-step test (one XLA compilation, reused through JAX's cache).
TINY = dataclasses.replace(SMOKE, imgsz=64, batch=2, n_train=8, n_val=4, epochs=3, close_mosaic=1, val=False,
                           max_boxes=8, log_every=2, plots=False, warmup_epochs=1.0, workers=1,
                           nbs=4)  # accumulate 2: optimizer steps every other iteration after warm-up


def main(run_dir: str, resume: bool) -> int:
    configure_pytensor()
    try:
        if resume:
            trainer = Trainer.from_run(run_dir, progress=False)
        else:
            trainer = Trainer(TINY, synthetic_source(TINY.n_train, TINY.n_val, progress=False), run_dir, progress=False)
        trainer.on_epoch_end = lambda row: time.sleep(1.0)  # a window for the test's signals
        print(json.dumps(trainer.fit()), flush=True)
    except TrainingInterrupted as e:
        print(e, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--resume" in sys.argv[2:]))
