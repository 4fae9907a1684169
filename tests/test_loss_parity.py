"""Assigner and loss on the fixture's raw head outputs equal Ultralytics 8.4 (both BN modes)."""

import pytest

from yolo_lib.loss.parity_checks import loss_checks


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_assigner_and_loss_match_ultralytics(reference, mode):
    checks = loss_checks(reference, mode)
    failed = [c for c in checks if not c.passed]
    assert not failed, "\n".join(f"{c.name}: {c.error:.3g} > {c.tolerance:.3g}" for c in failed)
    assert len(checks) == 9
