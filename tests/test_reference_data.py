"""The compact reference shipped in ``yolo_lib/weights/reference_data``: small, weights not stored but
regenerated (and verified) from our own initialiser, found when ``../shared`` is absent."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_lib import paths
from yolo_lib.weights import reference


def test_compact_reference_is_small_and_stores_no_weights():
    assert reference.COMPACT_PATH.stat().st_size <= 15e6
    with np.load(reference.COMPACT_PATH) as z:
        assert not any(k.startswith("state_dict/") for k in z.files)
        assert {"input/img", "eval/inference_out", "train/loss_items", "grad/model.0.conv.weight"} <= set(z.files)


def test_fresh_clone_finds_the_compact_reference_with_regenerated_weights(monkeypatch):
    monkeypatch.setenv("YOLO_SHARED_DIR", "none")
    assert paths.shared_dir() is None and paths.fixture_path() is None
    ref = reference.load()
    assert ref.compact and ref.path == reference.COMPACT_PATH and "compact reference" in ref.source
    sd = ref.state_dict()
    assert sd["model.0.conv.weight"].shape == (16, 3, 3, 3)
    assert {k[len("grad/"):] for k in ref if k.startswith("grad/")} <= set(sd)
    # BN statistics are randomised (eval mode is not the identity)
    assert np.ptp(sd["model.0.bn.running_var"]) > 0.1


def test_regenerated_weights_that_differ_are_refused(tmp_path):
    with np.load(reference.COMPACT_PATH) as z:
        meta = {k: z[k] for k in z.files if k.startswith("meta/")}
    meta["meta/state_dict_sha256"] = np.str_("0" * 64)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **meta)
    with pytest.raises(ValueError, match="differ from the ones Ultralytics ran"):
        reference.read(bad)
    with pytest.raises(reference.ReferenceMissingError):
        reference.read(tmp_path / "missing.npz")


def test_our_model_meets_the_tolerances_on_the_compact_reference():
    """Eval mode, every layer, the raw head outputs and the decoded output (the full check, train
    mode, loss and gradients included, is ``python -m yolo_lib.parity`` on the file: all 498 ok)."""
    from yolo_lib import parity

    checks = parity.eval_checks(parity.ParityCase(reference.read(reference.COMPACT_PATH)))
    assert len(checks) >= 23 + 6 + 2
    failed = [c for c in checks if not c.ok]
    assert not failed, failed
