"""The first sanity check of a training set-up: a fresh model must overfit one fixed batch.

Trained on the same batch again and again, the loss must fall; if it does not, something is
wrong (targets in the wrong units, a sign, a learning rate of 0) and no amount of training will
fix it. With task-aligned assignment the loss can rise first: the targets are weighted by the
IoU of the predictions, which is near zero while a random model's boxes overlap nothing, so the
box and DFL terms switch on only once predictions overlap the objects. The fall is therefore
measured from the peak of the first half of the steps (:func:`fall_from_peak`).

Used by notebook 10 and ``tests/test_train_learning.py``, with the training step the Trainer
runs (:class:`~yolo_lib.train.step.TrainingStep`).
"""

from __future__ import annotations

import numpy as np

from yolo_lib.train.schedule import IterationSettings
from yolo_lib.train.step import TrainingStep

OVERFIT_STEPS = 100
#: Optimizer steps at a constant learning rate 0.01 (weights and biases) and momentum 0.937.
OVERFIT_SETTINGS = IterationSettings(lr_weight=0.01, lr_bias=0.01, momentum=0.937, accumulate=1)
#: A set-up that learns ends the run at least this factor below the peak (measured 2.9x-3.6x in
#: the test's setting, see tests/test_train_learning.py; notebook 10 prints its own).
OVERFIT_FACTOR = 2.0


def overfit_one_batch(step: TrainingStep, batch, steps: int = OVERFIT_STEPS,
                      settings: IterationSettings = OVERFIT_SETTINGS) -> np.ndarray:
    """The loss items (steps, 3) [box, cls, dfl] of ``steps`` optimizer steps of ``step`` (and its
    EMA, if any) on one loader batch (:class:`~yolo_lib.data.Batch`, the step's shapes).
    FloatingPointError when a loss was not finite."""
    device_batch = step.put(batch.images, batch.boxes, batch.classes, batch.mask)
    step.read_losses()  # start from empty accumulators
    losses = []
    for i in range(steps):
        decay = step.ema.decay(step.ema.updates + 1) if step.ema is not None else 0.0
        step(device_batch, settings, True, decay, i)
        losses.append(step.read_losses()[0])
    bad = step.first_bad_iteration()
    if bad is not None:
        raise FloatingPointError(f"the loss was not finite at step {bad} of overfitting one batch")
    return np.asarray(losses)


def fall_from_peak(losses: np.ndarray) -> tuple[float, float, float]:
    """(peak of the summed loss over the first half, mean of the last 10 steps, their ratio)."""
    total = np.asarray(losses).reshape(len(losses), -1).sum(1)
    peak, last = float(total[: max(len(total) // 2, 1)].max()), float(total[-10:].mean())
    return peak, last, peak / last
