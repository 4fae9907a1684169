"""Learning-rate, momentum and accumulation schedules: pure functions of the iteration/epoch.

Ultralytics' recipe (``engine/trainer.py``, 8.4.190):

* per epoch ``e`` (0-based; epoch e trains with ``lr0 * lr_factor(e)``):
  linear ``(1 - e/E) * (1 - lrf) + lrf``, cosine ``(1 - cos(e*pi/E))/2 * (lrf - 1) + 1``;
* warm-up over the first ``nw = warmup_iterations(nb)`` iterations ``ni`` (counted over the whole
  run, ``ni = i + nb * epoch``), for ``ni <= nw``, linear interpolation from ``ni = 0`` to ``nw``:
  bias lr ``warmup_bias_lr -> lr0 * lr_factor(e)``, the other lrs ``0 -> lr0 * lr_factor(e)``,
  momentum ``warmup_momentum -> momentum``, accumulate ``1 -> accumulate`` (rounded half to even);
* an optimizer step happens at iteration ``ni`` when ``ni - last_step >= accumulate(ni)``
  (``last_step`` starts at -1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from yolo_lib.train.config import TrainConfig


class IterationSettings(NamedTuple):
    """What the step uses at one iteration: learning rates of the groups, momentum, accumulate."""

    lr_weight: float  # conv weights (decayed) and BN weights
    lr_bias: float  # biases
    momentum: float
    accumulate: int


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """Multiplier of ``lr0`` in ``epoch`` (linear, or cosine with ``cfg.cos_lr``), 1 at epoch 0."""
    e, n = float(epoch), float(cfg.epochs)
    if cfg.cos_lr:
        return (1 - math.cos(e * math.pi / n)) / 2 * (cfg.lrf - 1) + 1
    return max(1 - e / n, 0.0) * (1.0 - cfg.lrf) + cfg.lrf


def warmup_iterations(batches_per_epoch: int, cfg: TrainConfig) -> int:
    """Warm-up length ``nw``: ``round(min(warmup_epochs, epochs - 1) * nb)``, at least
    ``warmup_min_iterations``; 0 = no warm-up."""
    epochs = min(cfg.warmup_epochs, max(cfg.epochs - 1, 0))
    if epochs <= 0:
        return 0
    return max(round(epochs * batches_per_epoch), cfg.warmup_min_iterations)


def iteration_settings(ni: int, batches_per_epoch: int, cfg: TrainConfig) -> IterationSettings:
    """Learning rates, momentum and accumulate at global iteration ``ni`` (0-based)."""
    epoch = ni // batches_per_epoch
    lr = cfg.lr0 * lr_factor(epoch, cfg)
    nw = warmup_iterations(batches_per_epoch, cfg)
    if nw and ni <= nw:
        xi = [0, nw]
        return IterationSettings(
            lr_weight=float(np.interp(ni, xi, [0.0, lr])),
            lr_bias=float(np.interp(ni, xi, [cfg.warmup_bias_lr, lr])),
            momentum=float(np.interp(ni, xi, [cfg.warmup_momentum, cfg.momentum])),
            accumulate=max(1, int(np.interp(ni, xi, [1, accumulate_cap(batches_per_epoch, cfg)]).round())),
        )
    return IterationSettings(lr, lr, cfg.momentum, accumulate_cap(batches_per_epoch, cfg))


def accumulate_cap(batches_per_epoch: int, cfg: TrainConfig) -> int:
    """``cfg.accumulate`` capped at the run's total iterations (as Ultralytics does)."""
    return min(cfg.accumulate, batches_per_epoch * cfg.epochs)


def optimizer_steps(batches_per_epoch: int, cfg: TrainConfig, last_step: int = -1, start: int = 0,
                    stop: int | None = None):
    """Yield ``(ni, settings, do_step)`` for iterations ``start..stop-1``; ``do_step`` follows the
    accumulation rule from ``last_step`` (the iteration of the previous optimizer step)."""
    stop = batches_per_epoch * cfg.epochs if stop is None else stop
    for ni in range(start, stop):
        s = iteration_settings(ni, batches_per_epoch, cfg)
        do_step = ni - last_step >= s.accumulate
        if do_step:
            last_step = ni
        yield ni, s, do_step

