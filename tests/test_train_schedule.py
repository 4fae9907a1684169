"""Schedules against values computed by hand from Ultralytics 8.4.190's trainer formulas."""

import dataclasses

import pytest

from yolo_lib.train.config import FULL, TrainConfig
from yolo_lib.train.schedule import iteration_settings, lr_factor, optimizer_steps, warmup_iterations

CFG = TrainConfig(epochs=100, batch=16)  # accumulate 4, nb 50 below -> warm-up 150 iterations
NB = 50


def test_accumulate_and_decay_scaling():
    assert CFG.accumulate == 4 and FULL.accumulate == 1
    assert dataclasses.replace(CFG, batch=24).accumulate == 3  # round(64/24) = round(2.67)
    assert CFG.scaled_weight_decay == pytest.approx(5e-4 * 16 * 4 / 64)
    assert dataclasses.replace(CFG, batch=24).scaled_weight_decay == pytest.approx(5e-4 * 24 * 3 / 64)


def test_lr_factor_linear_and_cosine():
    assert lr_factor(0, CFG) == 1.0
    assert lr_factor(1, CFG) == pytest.approx(0.99 * 0.99 + 0.01)  # 0.9901
    assert lr_factor(99, CFG) == pytest.approx(0.01 * 0.99 + 0.01)
    cos = dataclasses.replace(CFG, cos_lr=True)
    assert lr_factor(50, cos) == pytest.approx(0.505)
    assert lr_factor(100, cos) == pytest.approx(0.01)


def test_warmup_length():
    assert warmup_iterations(NB, CFG) == 150
    assert warmup_iterations(NB, dataclasses.replace(CFG, epochs=2)) == 50  # min(3, epochs - 1) epochs
    assert warmup_iterations(10, dataclasses.replace(CFG, warmup_min_iterations=100)) == 100
    assert warmup_iterations(NB, dataclasses.replace(CFG, warmup_epochs=0)) == 0


@pytest.mark.parametrize("ni, lr_w, lr_b, mom, acc", [
    (0, 0.0, 0.1, 0.8, 1),
    (75, 0.5 * 0.009901, 0.1 + 0.5 * (0.009901 - 0.1), 0.8685, 2),  # epoch 1; round(2.5) = 2 (half to even)
    (30, 0.2 * 0.01, 0.1 + 0.2 * (0.01 - 0.1), 0.8274, 2),  # round(1.6)
    (150, 0.009703, 0.009703, 0.937, 4),  # ni == nw lands exactly on the targets (epoch 3)
    (151, 0.009703, 0.009703, 0.937, 4),
    (200, 0.009604, 0.009604, 0.937, 4),  # epoch 4
])
def test_iteration_settings(ni, lr_w, lr_b, mom, acc):
    s = iteration_settings(ni, NB, CFG)
    assert s.lr_weight == pytest.approx(lr_w, rel=1e-9, abs=1e-12)
    assert s.lr_bias == pytest.approx(lr_b, rel=1e-9)
    assert s.momentum == pytest.approx(mom, rel=1e-9)
    assert s.accumulate == acc


def test_optimizer_steps_follow_accumulation():
    steps = [ni for ni, _, do in optimizer_steps(NB, CFG, stop=12) if do]
    # accumulate is 1 for ni <= 18 (round(1 + 3 ni / 150) < 1.5), so every early iteration steps
    assert steps == list(range(12))
    late = [ni for ni, _, do in optimizer_steps(NB, CFG, last_step=299, start=300, stop=320) if do]
    assert late == [303, 307, 311, 315, 319]
