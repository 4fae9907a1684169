"""Assigner and loss on the fixture's raw head outputs equal Ultralytics 8.4 (both BN modes)."""

import numpy as np
import pytest

from yolo_lib.parity import loss_checks, zero_alignment_tie_picks


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_assigner_and_loss_match_ultralytics(reference, mode):
    checks = loss_checks(reference, mode)
    failed = [c for c in checks if not c.ok]
    assert not failed, "\n".join(f"{c.name}: {c.value:.3g} > {c.tol:.3g}" for c in failed)
    assert len(checks) == 9
    # the shared fixture's assignment is identical on every anchor, no tie excused; the compact
    # reference (128 px) has one genuine zero-alignment tie per mode (the 6x5 px box's candidates)
    ties = 1 if reference.compact else 0
    assert checks[0].metric == f"mismatches_apart_from_{ties}_zero_alignment_ties"


def test_only_zero_alignment_candidates_of_gts_with_free_slots_count_as_ties():
    """One image, two gts, six anchors, top-2. gt 0 has one non-zero candidate (anchor 0) and
    zero-alignment candidates 1 and 2, so its second slot is a tie between them; gt 1 has two
    non-zero candidates (3, 4) and no free slot; anchor 5 is nobody's candidate."""
    candidates = np.array([[[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]]], bool)
    align = np.array([[[0.5, 0, 0, 0, 0, 0], [0, 0, 0, 0.3, 0.2, 0]]], np.float32)
    ours = {"fg_mask": np.array([[1, 1, 0, 1, 1, 0]], bool), "gt_idx": np.array([[0, 0, 0, 1, 1, 0]]),
            "candidates": candidates, "align": align}

    def verdict(fg_ref, gt_ref):
        tie, differs = zero_alignment_tie_picks(ours, np.array([fg_ref], bool), np.array([gt_ref]), topk=2)
        return np.nonzero(differs & tie)[1].tolist(), np.nonzero(differs & ~tie)[1].tolist()

    assert verdict([1, 1, 0, 1, 1, 0], [0, 0, 0, 1, 1, 0]) == ([], [])  # identical
    assert verdict([1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0]) == ([1, 2], [])  # the other zero candidate
    assert verdict([1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0]) == ([], [4])  # a non-zero pick dropped
    assert verdict([1, 1, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]) == ([], [5])  # not a candidate
    assert verdict([1, 1, 0, 1, 1, 0], [0, 0, 0, 1, 0, 0]) == ([], [4])  # positive of another gt
