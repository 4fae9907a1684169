"""Ultralytics state-dict import/export: round trip, error report, class-row selection."""

from __future__ import annotations

import numpy as np
import pytest

from yolo_lib import weights
from yolo_lib.model import build_yolo11
from yolo_lib.weights import StateDictError


@pytest.fixture(scope="module")
def sd_ref(reference):
    return {k[len("state_dict/"):]: v for k, v in reference.items() if k.startswith("state_dict/")}


@pytest.fixture(scope="module")
def coco_sd():
    """A random 80-class YOLO11n state dict (stands in for the official checkpoint)."""
    return weights.state_dict(build_yolo11("n", 80, seed=1))


def test_import_uses_every_entry_and_export_inverts_it(sd_ref):
    model = build_yolo11("n", 2, init=False)
    weights.load_state_dict(model, sd_ref)
    out = weights.state_dict(model)
    assert list(out) == list(sd_ref)  # PyTorch's order, incl. the frozen DFL weight
    for k, v in sd_ref.items():
        np.testing.assert_array_equal(out[k], v, err_msg=k)


def test_npz_round_trip(tmp_path, coco_sd):
    model = weights.model_from_state_dict(coco_sd)
    path = weights.save_npz(model, tmp_path / "w.npz")
    again = weights.read_npz(path)
    assert list(again) == list(coco_sd)
    assert all(np.array_equal(again[k], coco_sd[k]) for k in coco_sd)


def test_one_error_lists_missing_unexpected_and_mismatched(sd_ref):
    bad = dict(sd_ref)
    del bad["model.3.bn.running_var"]
    bad["model.99.conv.weight"] = np.zeros(3, np.float32)
    bad["model.0.conv.weight"] = np.zeros((16, 3, 5, 5), np.float32)
    model = build_yolo11("n", 2, seed=0)
    before = model.params["model.0.conv.weight"].get_value().copy()
    with pytest.raises(StateDictError) as err:
        weights.load_state_dict(model, bad)
    msg = str(err.value)
    assert "1 missing, 1 unexpected, 1 mismatched" in msg
    assert "model.3.bn.running_var" in msg and "model.99.conv.weight" in msg
    assert "model.0.conv.weight: model (16, 3, 3, 3), state dict (16, 3, 5, 5)" in msg
    np.testing.assert_array_equal(model.params["model.0.conv.weight"].get_value(), before)


def test_num_batches_tracked_is_ignored_and_dfl_is_checked(sd_ref):
    model = build_yolo11("n", 2, init=False)
    weights.load_state_dict(model, {**sd_ref, "model.0.bn.num_batches_tracked": np.array(7)})
    broken = {**sd_ref, "model.23.dfl.conv.weight": np.zeros((1, 16, 1, 1), np.float32)}
    with pytest.raises(StateDictError, match="frozen DFL weight"):
        weights.load_state_dict(model, broken)


def test_80_class_checkpoint_into_person_and_cell_phone(coco_sd):
    model = weights.model_from_state_dict(coco_sd, class_ids=[weights.COCO_PERSON, weights.COCO_CELL_PHONE])
    assert model.nc == 2 and model.scale == "n" and model.detect.c3 == 80
    for i in range(3):
        for p in ("weight", "bias"):
            name = f"model.23.cv3.{i}.2.{p}"
            np.testing.assert_array_equal(model.params[name].get_value(), coco_sd[name][[0, 67]])
    np.testing.assert_array_equal(model.params["model.23.cv3.1.1.1.conv.weight"].get_value(),
                                  coco_sd["model.23.cv3.1.1.1.conv.weight"])


def test_class_selection_errors(coco_sd):
    with pytest.raises(StateDictError, match="select 3 classes but the model has nc=2"):
        weights.load_state_dict(build_yolo11("n", 2, init=False, cls_hidden=80), coco_sd, class_ids=[0, 1, 2])
    with pytest.raises(StateDictError, match="class id 80 >= 80"):
        weights.model_from_state_dict(coco_sd, class_ids=[0, 80])
    with pytest.raises(StateDictError, match="distinct"):
        weights.model_from_state_dict(coco_sd, class_ids=[0, 0])
    with pytest.raises(StateDictError, match="hint: .*class_ids"):  # default-width nc=2 model
        weights.load_state_dict(build_yolo11("n", 2, init=False), coco_sd)


@pytest.mark.parametrize("scale", ["n", "s", "m", "l", "x"])
def test_architecture_is_inferred_from_the_state_dict(scale):
    model = build_yolo11(scale, 3, init=False)
    sd = {n: np.empty(v.type.shape, np.float32) for n, v in model.params.items()}
    assert weights.infer_architecture(sd) == {"scale": scale, "nc": 3, "cls_hidden": model.detect.c3}


def test_not_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        weights.load_state_dict(build_yolo11("n", 2, init=False), [1, 2])
