"""Parity of yolo_lib against an Ultralytics reference file: ``python -m yolo_lib.parity FILE.npz``.

The file uses the fixtures' layout (``shared/fixtures/README.md``): ``input/img``,
``state_dict/<name>`` and any of ``{eval,train}/layerNN``, ``{eval,train}/{box,cls}_raw_P3..5``,
``eval/inference_out``, ``train/bn_after_forward/<name>``, ... Any nc, image size and batch
work (the architecture is read from the state dict); absent keys are skipped.

It prints ONE JSON object ``{"checks": [{"name", "metric", "value", "tol", "ok"}, ...], "ok": ...}``
and exits 0 only when every check is ok, 1 otherwise; a file that cannot be read is one line
``error: ...`` and exit status 1 (:mod:`yolo_lib.cli.runner`).

Checks come from the check-group functions listed in :data:`CHECK_GROUPS`. A group takes the
:class:`ParityCase` and returns a list of :class:`Check`; a new group is a function in a module
of this package plus ONE line in that list. Modules: :mod:`.checks` (the Check row; the one
tolerance table is :mod:`yolo_lib.tolerances`), :mod:`.case` (ParityCase), :mod:`.model` (weights, layers, decoded output,
BN statistics), :mod:`.loss` (assigner, loss, gradients).
"""

from __future__ import annotations

import argparse
from typing import Callable, Mapping

import numpy as np

from yolo_lib.cli.runner import CommandError, Outcome, run_command
from yolo_lib.tolerances import (
    GRAD_ZERO_FLOOR, TOL_ACTIVATION, TOL_BOX_PX, TOL_GRAD, TOL_LOSS, TOL_SCORE, TOL_TARGET_SCORE,
)

from .case import ParityCase, read_reference
from .checks import Check, compare_absolute, compare_relative, failed
from .loss import fixture_targets, fixture_train_step, gradient_checks, loss_checks, loss_group, zero_alignment_tie_picks
from .model import eval_checks, train_checks, weights_checks

#: Check groups, run in this order (each takes a ParityCase, returns a list of Check).
CHECK_GROUPS: list[Callable[[ParityCase], list[Check]]] = [weights_checks, eval_checks, train_checks, loss_group]

__all__ = [
    "CHECK_GROUPS", "GRAD_ZERO_FLOOR", "TOL_ACTIVATION", "TOL_BOX_PX", "TOL_GRAD", "TOL_LOSS", "TOL_SCORE",
    "TOL_TARGET_SCORE", "Check", "ParityCase", "compare_absolute", "compare_relative", "eval_checks", "failed",
    "fixture_targets", "fixture_train_step", "gradient_checks", "loss_checks", "loss_group", "main",
    "read_reference", "run", "train_checks", "weights_checks", "zero_alignment_tie_picks",
]


def run(ref: Mapping[str, np.ndarray] | ParityCase, groups=None) -> dict:
    """All checks of ``groups`` (default :data:`CHECK_GROUPS`) → the report dict."""
    case = ref if isinstance(ref, ParityCase) else ParityCase(ref)
    checks: list[Check] = []
    for group in groups or CHECK_GROUPS:
        checks.extend(group(case))
    return {"checks": [c.as_dict() for c in checks], "ok": bool(checks) and all(c.ok for c in checks)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m yolo_lib.parity", description="parity against a reference file")
    p.add_argument("file", help="reference .npz in the fixtures' layout")
    path = p.parse_args(argv).file
    return run_command(lambda _: check_file(path))


def check_file(path: str) -> Outcome:
    """The report of every check group on the reference file ``path``; ok when every check is."""
    try:
        ref = read_reference(path)
    except (OSError, ValueError) as err:
        raise CommandError(f"cannot read reference file {path}: {err}") from None
    report = run(ref)
    return Outcome(report, ok=report["ok"])
