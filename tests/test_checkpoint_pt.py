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


# --- attacks: more ways to name code, and archives that declare absurd sizes ---------------------


def write_marker(path):
    """What a malicious checkpoint wants run; the tests check that it never is."""
    Path(path).write_text("ran")


class _OwnReduce:
    """An object of a class of its own whose ``__reduce__`` calls a function of this module."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return write_marker, (str(self.marker),)


def _payloads(marker: Path) -> dict:
    import builtins
    import functools
    import importlib
    import marshal
    import os
    import runpy
    import subprocess

    script = marker.with_suffix(".py")
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    inner = pickle.dumps(_Runs(os.system, f"touch {marker}"))
    return {
        "pickle.loads": _Runs(pickle.loads, inner),  # a nested, unrestricted unpickling
        "importlib.import_module": _Runs(getattr, _Runs(importlib.import_module, "os"), "system"),
        "builtins.__import__": _Runs(builtins.__import__, "os"),
        "marshal.loads": _Runs(marshal.loads, marshal.dumps(compile("0", "x", "eval"))),
        "functools.partial": _Runs(functools.partial(os.system, f"touch {marker}")),
        "runpy.run_path": _Runs(runpy.run_path, str(script)),
        "subprocess.run": _Runs(subprocess.run, ["touch", str(marker)]),
        "own __reduce__": _OwnReduce(marker),
    }


@pytest.mark.parametrize("kind", ["pickle.loads", "importlib.import_module", "builtins.__import__", "marshal.loads",
                                  "functools.partial", "runpy.run_path", "subprocess.run", "own __reduce__"])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_any_other_callable_is_refused_without_running(tmp_path, kind, protocol):
    marker = tmp_path / "ran"
    data = pickle.dumps({"epoch": -1, "model": _payloads(marker)[kind]}, protocol=protocol)
    with pytest.raises(UnsafeCheckpointError, match="refused without running"):
        checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, data))
    assert not marker.exists()


def test_a_global_through_the_extension_registry_is_refused(tmp_path):
    """EXT1 names a global by a registered number instead of by name; it is refused all the same."""
    import copyreg
    import os

    marker = tmp_path / "ran"
    copyreg.add_extension(os.system.__module__, "system", 240)  # "posix" on Linux
    try:
        data = pickle.dumps(_Runs(os.system, f"touch {marker}"), protocol=2)
        assert b"\x82\xf0" in data  # EXT1 240
        with pytest.raises(UnsafeCheckpointError, match=r"\.system, which is not"):
            checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, data))
    finally:
        copyreg.remove_extension(os.system.__module__, "system", 240)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="malformed"):  # an unregistered code
        checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, b"\x80\x02\x82\xf1."))


def _fragment(value) -> bytes:
    """The opcodes that push ``value`` (a pickle without its PROTO header and STOP)."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _tensor_checkpoint(tmp_path: Path, size, stride, offset=0, numel=4, stored_bytes=8) -> Path:
    """A checkpoint {"t": one half-precision tensor view} over a storage of ``stored_bytes`` bytes
    that the pickle says holds ``numel`` elements."""
    storage = (b"(" + _fragment("storage") + _global("torch", "HalfStorage") + _fragment("0") + _fragment("cpu")
               + _fragment(numel) + b"tQ")  # MARK ... TUPLE, BINPERSID
    args = (b"(" + storage + _fragment(offset) + _fragment(tuple(size)) + _fragment(tuple(stride))
            + _fragment(False) + _global("collections", "OrderedDict") + b")R" + b"t")
    payload = b"\x80\x02}" + _fragment("t") + _global("torch._utils", "_rebuild_tensor_v2") + args + b"Rs."
    path = _checkpoint_with_pickle(tmp_path, payload)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("evil/data/0", np.arange(stored_bytes // 2, dtype=np.float16).tobytes())
    return path


def test_the_tensor_helper_builds_a_readable_checkpoint(tmp_path):
    ckpt = checkpoint_pt.read_checkpoint(_tensor_checkpoint(tmp_path, (2, 2), (2, 1)))
    np.testing.assert_array_equal(ckpt["t"], [[0, 1], [2, 3]])


@pytest.mark.parametrize("size,stride,offset,numel,stored,match", [
    ((10**12,), (0,), 0, 4, 8, "more elements than its storage"),      # a terabyte from 8 bytes
    ((4,), (-1,), 3, 4, 8, "negative"),                                # reads before the storage
    ((3,), (-2,), 0, 4, 8, "negative"),
    ((-1,), (1,), 0, 4, 8, "negative"),
    ((2, 2), (2, 1), 2**62, 4, 8, "runs past its storage"),
    ((2,), (1,), 0, 10**15, 8, "declares 1000000000000000 elements"),  # the persistent id lies about the size
])
def test_tensors_with_absurd_sizes_are_refused(tmp_path, size, stride, offset, numel, stored, match):
    with pytest.raises(CheckpointError, match=match):
        checkpoint_pt.read_checkpoint(_tensor_checkpoint(tmp_path, size, stride, offset, numel, stored))


def test_archive_members_that_declare_absurd_sizes_are_refused_before_reading(tmp_path, monkeypatch):
    path = _tensor_checkpoint(tmp_path, (2, 2), (2, 1))
    # a zip header can declare any size: say the storage member holds a terabyte
    raw = bytearray(path.read_bytes())
    for start in _central_entries(raw):
        name_len = int.from_bytes(raw[start + 28:start + 30], "little")
        if raw[start + 46:start + 46 + name_len] == b"evil/data/0":
            raw[start + 24:start + 28] = (2**32 - 2).to_bytes(4, "little")  # its uncompressed size
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="declares 4294967294 bytes"):
        checkpoint_pt.read_checkpoint(path)
    # a compressed member (a zip bomb) is judged by the size it declares, not by what it takes on disk
    monkeypatch.setattr(checkpoint_pt, "MAX_MEMBER_BYTES", 1 << 16)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("evil/data.pkl", b"\x80\x02}." + b"\x00" * (1 << 20))
    assert bomb.stat().st_size < 1 << 16
    with pytest.raises(CheckpointError, match="declares 1048580 bytes"):
        checkpoint_pt.read_checkpoint(bomb)


def _central_entries(raw: bytes):
    """Offsets of the central-directory records of a zip archive."""
    start = raw.find(b"PK\x01\x02")
    while start != -1:
        yield start
        start = raw.find(b"PK\x01\x02", start + 4)


def test_a_pickle_that_declares_a_huge_bytes_object_is_one_line(tmp_path):
    payload = b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"abc"  # BINBYTES8 of a terabyte
    with pytest.raises(CheckpointError, match="malformed"):
        checkpoint_pt.read_checkpoint(_checkpoint_with_pickle(tmp_path, payload))


def test_the_limits_admit_the_largest_yolo11_checkpoints():
    """yolo11x.pt (fp16) is about 110 MB, its largest tensor 9.4 MB; a last.pt with optimizer
    state in float32 is a few hundred MB."""
    assert checkpoint_pt.MAX_MEMBER_BYTES >= 256 << 20 and checkpoint_pt.MAX_TOTAL_BYTES >= 1 << 30
