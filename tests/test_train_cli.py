"""The training command's one-line errors, given before anything compiles."""

import json

import pytest

from yolo_lib.train.__main__ import main
from yolo_lib.train.config import SMOKE, TrainConfig


def test_missing_dataset_is_one_line(tmp_path, capsys):
    rc = main(["--train-annotations", str(tmp_path / "nope.json"), "--train-images", str(tmp_path),
               "--val-annotations", str(tmp_path / "nope.json"), "--val-images", str(tmp_path),
               "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0 and "train annotations not found" in err


def test_partial_custom_dataset_is_refused(tmp_path, capsys):
    assert main(["--train-annotations", str(tmp_path / "a.json"), "--out", str(tmp_path / "run")]) == 1
    assert "needs all four" in capsys.readouterr().err


def test_unwritable_output_is_one_line(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = main(["--train-annotations", str(tmp_path / "a.json"), "--train-images", str(tmp_path),
               "--val-annotations", str(tmp_path / "a.json"), "--val-images", str(tmp_path),
               "--out", str(blocker / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0 and "not writable" in err


def test_resume_of_a_folder_without_checkpoint(tmp_path, capsys):
    assert main(["--resume", str(tmp_path)]) == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_config_round_trip_and_checks():
    assert TrainConfig.from_dict(SMOKE.as_dict()) == SMOKE
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({**SMOKE.as_dict(), "lr": 1})
    with pytest.raises(ValueError, match="multiple of 32"):
        TrainConfig(imgsz=100).check()
