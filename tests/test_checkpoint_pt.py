"""The torch-free checkpoint reader on a checkpoint in Ultralytics' released layout
(``tests/data/yolo11_w8_nc80.pt``, written by ``scripts/make_test_checkpoint.py`` with torch +
Ultralytics 8.4: a width-1/8 YOLO11 with 80 classes, fp16, passed through ``strip_optimizer``),
and its refusal of any pickle that names another global."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from yolo_lib.weights import checkpoint_pt
from yolo_lib.weights.checkpoint_pt import CheckpointError, UnsafeCheckpointError

DATA = Path(__file__).parent / "data"
CKPT = DATA / "yolo11_w8_nc80.pt"
TORCH_SD = DATA / "yolo11_w8_nc80_state_dict.npz"  # model.state_dict() as torch returned it


@pytest.fixture(scope="module")
def torch_sd():
    with np.load(TORCH_SD) as z:
        return {k: z[k] for k in z.files}


def test_every_tensor_equals_torch_state_dict(torch_sd):
    sd = checkpoint_pt.read_state_dict(CKPT)
    expected = [k for k in torch_sd if not k.endswith("num_batches_tracked")]
    assert list(sd) == expected  # names and PyTorch's order
    for k in expected:
        assert sd[k].dtype == np.float32 and sd[k].shape == torch_sd[k].shape, k
        np.testing.assert_array_equal(sd[k], torch_sd[k].astype(np.float32), err_msg=k)


def test_checkpoint_metadata_and_module_records():
    ckpt = checkpoint_pt.read_checkpoint(CKPT)
    assert ckpt["epoch"] == -1 and ckpt["ema"] is None and ckpt["optimizer"] is None
    assert ckpt["version"].startswith("8.") and isinstance(ckpt["train_args"], dict)
    model = ckpt["model"]
    assert isinstance(model, checkpoint_pt.ModuleRecord) and model.kind == "ultralytics.nn.tasks.DetectionModel"
    detect = model.state["_modules"]["model"].state["_modules"]["23"]
    assert detect.kind == "ultralytics.nn.modules.head.Detect" and detect.state["nc"] == 80
    assert not hasattr(model, "forward")  # a record, not the real class


def test_class_selection_person_and_cell_phone(torch_sd):
    sd = checkpoint_pt.read_state_dict(CKPT, class_ids=[0, 67])
    for lvl in range(3):
        for p in ("weight", "bias"):
            key = f"model.23.cv3.{lvl}.2.{p}"
            assert sd[key].shape[0] == 2
            np.testing.assert_array_equal(sd[key], torch_sd[key][[0, 67]].astype(np.float32))
    assert sd["model.23.cv2.0.2.weight"].shape == torch_sd["model.23.cv2.0.2.weight"].shape
    with pytest.raises(CheckpointError, match="below the checkpoint's 80 classes"):
        checkpoint_pt.read_state_dict(CKPT, class_ids=[0, 80])


def _checkpoint_with_pickle(tmp_path: Path, payload: bytes) -> Path:
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", payload)
        zf.writestr("evil/byteorder", "little")
    return path


class _Runs:
    """Pickles as a call of ``func(*args)`` (what a malicious checkpoint does)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "getattr"])
def test_a_pickle_naming_another_global_is_refused_without_running(tmp_path, kind):
    import builtins
    import os
    import subprocess

    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    payloads = {
        "os.system": _Runs(os.system, f"touch {marker}"),
        "builtins.eval": _Runs(builtins.eval, code),
        "builtins.exec": _Runs(builtins.exec, code),
        "subprocess.Popen": _Runs(subprocess.Popen, ["touch", str(marker)]),
        "getattr": _Runs(getattr, _Runs(builtins.__import__, "os"), "system"),
    }
    # inside an otherwise well-formed checkpoint dict, after admitted globals
    data = pickle.dumps({"epoch": -1, "train_args": {}, "model": payloads[kind]}, protocol=2)
    path = _checkpoint_with_pickle(tmp_path, data)
    with pytest.raises(UnsafeCheckpointError, match="refused without running"):
        checkpoint_pt.read_checkpoint(path)
    assert not marker.exists()


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint_pt.read_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "plain.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a zip-based torch checkpoint"):
        checkpoint_pt.read_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="malformed"):
        checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, b"\x80\x02}q\x00"))  # truncated
    buf = io.BytesIO()
    pickle.dump([1, 2], buf, protocol=2)
    with pytest.raises(CheckpointError, match="not an Ultralytics checkpoint dict"):
        checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, buf.getvalue()))
