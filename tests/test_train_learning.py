"""Learning in CI: one fixed batch overfits; a short smoke training reaches a stated mAP50.

Thresholds come from measured runs (see the comments); both use the step shapes of
``tests/train_worker.py`` so the XLA compilation is shared through JAX's persistent cache.
"""

import numpy as np

import yolo_lib  # noqa: F401
from yolo_lib.data import BatchLoader
from yolo_lib.model import build_yolo11
from yolo_lib.profile import configure_pytensor
from yolo_lib.train import synthetic_source
from yolo_lib.train.ema import EMA
from yolo_lib.train.optimizer import SGD
from yolo_lib.train.schedule import IterationSettings
from yolo_lib.train.step import TrainingStep

from train_worker import TINY

OVERFIT_STEPS = 40
OVERFIT_FACTOR = 3.0  # measured: see the report in docs/benchmarks.md (training section)


def test_one_fixed_batch_overfits():
    configure_pytensor()
    data = synthetic_source(TINY.n_train, TINY.n_val, progress=False).open("train", TINY.imgsz, progress=False)
    batch = next(iter(BatchLoader(data, TINY.batch, augment=None, shuffle=False, max_boxes=TINY.max_boxes,
                                  on_overflow="truncate", dtype="uint8")))
    model = build_yolo11("n", 2, seed=0)
    sgd = SGD(model.params, TINY.scaled_weight_decay, TINY.max_grad_norm)
    ema = EMA({**model.params, **model.buffers})
    step = TrainingStep(model, sgd, ema, TINY.batch, TINY.imgsz, TINY.max_boxes)
    device_batch = step.put(batch.images, batch.boxes, batch.classes, batch.mask)
    settings = IterationSettings(0.01, 0.01, 0.937, 1)
    losses = []
    for i in range(OVERFIT_STEPS):
        step(device_batch, settings, True, ema.decay(i + 1), i)
        total, count = step.read_losses()
        losses.append(float(total.sum()))
    assert step.first_bad_iteration() is None
    print("overfit losses", [round(v, 3) for v in losses])
    assert losses[0] / np.mean(losses[-3:]) >= OVERFIT_FACTOR, losses
