"""Training YOLO11n: Ultralytics' recipe as small modules, one job each.

* :mod:`~yolo_lib.train.config`     — :class:`TrainConfig` (every setting), :data:`SMOKE`, :data:`FULL`;
* :mod:`~yolo_lib.train.schedule`   — lr / momentum / accumulation per iteration (pure functions);
* :mod:`~yolo_lib.train.optimizer`  — SGD (Nesterov, three groups, clipping, accumulation);
* :mod:`~yolo_lib.train.ema`        — EMA of weights and BN statistics;
* :mod:`~yolo_lib.train.step`       — the compiled, donating training step;
* :mod:`~yolo_lib.train.checkpoint` — one plain dict, written atomically;
* :mod:`~yolo_lib.train.data`       — where the data comes from, checked before compiling;
* :mod:`~yolo_lib.train.loop`       — :class:`Trainer`: epochs, evaluation, logging, resume;
* ``python -m yolo_lib.train --help`` — the command line.
"""

from yolo_lib.train.config import FULL, SMOKE, TrainConfig
from yolo_lib.train.data import DataError, DataSource, coco_source, synthetic_source
from yolo_lib.train.loop import NonFiniteLossError, Trainer, TrainingInterrupted

__all__ = ["FULL", "SMOKE", "DataError", "DataSource", "NonFiniteLossError", "TrainConfig", "Trainer",
           "TrainingInterrupted", "coco_source", "synthetic_source"]
