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
    with pytest.raises(ValueError, match="precision must be one of tf32, float32, bfloat16; got 'fp16'"):
        TrainConfig(precision="fp16").check()
    old = SMOKE.as_dict()
    del old["precision"]  # a checkpoint written before the setting existed resumes at the default
    assert TrainConfig.from_dict(old).precision == "tf32"


def test_precision_reaches_the_config():
    from yolo_lib.train.__main__ import build_config, parse_args

    assert build_config(parse_args(["--precision", "bfloat16"])).precision == "bfloat16"
    assert build_config(parse_args([])).precision == SMOKE.precision == "tf32"


def _dummy_custom_data(tmp_path) -> list[str]:
    (tmp_path / "a.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    return ["--train-annotations", str(tmp_path / "a.json"), "--train-images", str(tmp_path),
            "--val-annotations", str(tmp_path / "a.json"), "--val-images", str(tmp_path),
            "--out", str(tmp_path / "run")]


def test_more_devices_than_present_is_one_line(tmp_path, capsys):
    import jax

    rc = main(_dummy_custom_data(tmp_path) + ["--devices", str(len(jax.devices()) + 1)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0 and "JAX sees" in err, err


def test_batch_that_does_not_split_over_the_devices_is_one_line(tmp_path, capsys, monkeypatch):
    import jax

    monkeypatch.setattr(jax, "devices", lambda *a: ["d0", "d1", "d2"])  # only the count is read before compiling
    rc = main(_dummy_custom_data(tmp_path) + ["--batch", "8"])  # default: all (3) devices
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0 and "batch 8 does not divide by the 3 devices" in err, err
