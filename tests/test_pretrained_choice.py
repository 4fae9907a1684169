"""``pretrained.choose_weights``, the one place where notebooks decide which weights draw their
pictures: the downloaded ``yolo11n.pt`` when the data folder has it (here the small checkpoint
in the official layout, ``tests/data/yolo11_w8_nc80.pt``, put there under that name), else the
reference's untrained weights, saying which in one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from yolo_lib.weights import pretrained
from yolo_lib.weights.checkpoint_pt import read_state_dict
from yolo_lib.weights.reference import Reference

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "tests" / "data" / "yolo11_w8_nc80.pt"
PICTURE_NOTEBOOKS = ("03_conv_c3k2", "04_sppf_c2psa_attention", "05_detect_dfl", "06_model", "07_loss", "11_onnx_parity")


@pytest.fixture
def fake_ref(tmp_path):
    """A stand-in reference (no weights to regenerate): two tensors and a 128 px input."""
    arrays = {"state_dict/model.0.conv.weight": np.ones((16, 3, 3, 3), np.float32),
              "state_dict/model.0.bn.weight": np.full(16, 0.5, np.float32),
              "input/img": np.zeros((2, 3, 128, 128), np.float32)}
    return Reference(arrays, tmp_path / "yolo11n_nc2_128.npz", compact=True)


def test_downloaded_checkpoint_is_picked_and_announced(tmp_path, monkeypatch, capsys, fake_ref):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    shutil.copyfile(CKPT, tmp_path / "yolo11n.pt")
    chosen = pretrained.choose_weights(fake_ref)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [chosen.message]
    assert "pretrained yolo11n.pt" in lines[0] and str(tmp_path / "yolo11n.pt") in lines[0]
    assert chosen.trained and chosen.label == "pretrained yolo11n.pt"
    want = read_state_dict(CKPT, pretrained.WORKSHOP_CLASSES)
    assert list(chosen.state_dict) == list(want)
    for k, v in want.items():
        np.testing.assert_array_equal(chosen.state_dict[k], v, err_msg=k)
    assert chosen.state_dict["model.23.cv3.0.2.weight"].shape[0] == 2  # person, cell phone


def test_without_the_download_the_reference_is_used_and_the_command_named(tmp_path, monkeypatch, capsys, fake_ref):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    chosen = pretrained.choose_weights(fake_ref)
    (line,) = capsys.readouterr().out.splitlines()
    assert "UNTRAINED" in line and "python -m yolo_lib.data download-weights" in line
    assert str(tmp_path / "yolo11n.pt") in line and "128x128 px" in line
    assert not chosen.trained and "untrained" in chosen.label
    assert set(chosen.state_dict) == {"model.0.conv.weight", "model.0.bn.weight"}
    np.testing.assert_array_equal(chosen.state_dict["model.0.bn.weight"], 0.5)


def test_a_given_path_wins_over_the_download(tmp_path, monkeypatch, capsys, fake_ref):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    (tmp_path / "yolo11n.pt").write_bytes(b"not read")  # present, but WEIGHTS names another file
    chosen = pretrained.choose_weights(fake_ref, path=CKPT)
    assert chosen.trained and chosen.label == CKPT.name
    assert chosen.message in capsys.readouterr().out
    assert chosen.state_dict["model.23.cv3.0.2.weight"].shape[0] == 2


def test_quiet_when_asked(tmp_path, monkeypatch, capsys, fake_ref):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    pretrained.choose_weights(fake_ref, verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", PICTURE_NOTEBOOKS)
def test_notebooks_choose_through_the_helper(name):
    source = (ROOT / "notebooks" / f"{name}.py").read_text()
    assert "pretrained.choose_weights(" in source, f"{name} does not pick its weights with pretrained.choose_weights"
    assert not re.search(r"pretrained\.(load_state_dict|find_weights)\(", source), \
        f"{name} decides about yolo11n.pt itself instead of through pretrained.choose_weights"
