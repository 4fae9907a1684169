"""Read an Ultralytics ``.pt`` checkpoint (e.g. the official ``yolo11n.pt``) without torch and
without running any code stored in it.

A ``.pt`` file is a zip archive: ``<name>/data.pkl`` (a pickle of the checkpoint dict, whose
``model`` is a pickled ``DetectionModel``) and ``<name>/data/<key>`` (the raw bytes of each tensor
storage). Unpickling normally imports and calls whatever the pickle names; here a restricted
unpickler admits only the globals such a checkpoint needs (:data:`ADMITTED`), each replaced by an
inert stand-in:

* tensor rebuilders (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``) and storage
  types (``torch.HalfStorage`` ...) -> numpy arrays read from the archive;
* the torch.nn / Ultralytics module classes of YOLO11 -> :class:`ModuleRecord`, which only
  records the attribute dict the pickle hands it (no ``__init__``, no method of the real class);
* ``collections.OrderedDict``, ``builtins.set``, ``torch.Size``.

Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, an unknown class ...)
raises :class:`UnsafeCheckpointError` naming it, before anything is called.

Sizes are checked before anything is allocated: an archive member that declares more than
:data:`MAX_MEMBER_BYTES` (or members that together declare more than :data:`MAX_TOTAL_BYTES`), a
storage whose bytes disagree with the element count its pickle declares, and a tensor view with
a negative size, stride or offset, more elements than its storage, or reaching past its end, all
raise :class:`CheckpointError`.

    from yolo_lib import weights
    from yolo_lib.weights import checkpoint_pt
    sd = checkpoint_pt.read_state_dict("data/yolo11n.pt", class_ids=[0, 67])  # person, cell phone
    model = weights.model_from_state_dict(sd)                                  # nc=2 YOLO11n
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yolo_lib.weights.state_dicts import CheckpointError, select_class_rows

#: The most bytes one archive member may declare: yolo11x's largest tensor is 9.4 MB in float32.
MAX_MEMBER_BYTES = 1 << 30
#: The most bytes all members read from one archive may declare together (a last.pt of yolo11x
#: with its optimizer state in float32 is about 0.7 GB).
MAX_TOTAL_BYTES = 2 << 30

#: torch storage class name -> numpy dtype of its elements ("bfloat16" is widened to float32).
STORAGE_DTYPES = {
    "HalfStorage": np.float16, "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}

#: Module classes a YOLO11 detection checkpoint pickles (recorded, never instantiated).
MODULE_CLASSES = {
    "torch.nn.modules.container": ("Sequential", "ModuleList"),
    "torch.nn.modules.conv": ("Conv2d",),
    "torch.nn.modules.batchnorm": ("BatchNorm2d",),
    "torch.nn.modules.activation": ("SiLU",),
    "torch.nn.modules.linear": ("Identity",),
    "torch.nn.modules.pooling": ("MaxPool2d",),
    "torch.nn.modules.upsampling": ("Upsample",),
    "ultralytics.nn.tasks": ("DetectionModel",),
    "ultralytics.nn.modules.conv": ("Conv", "DWConv", "Concat"),
    "ultralytics.nn.modules.block": ("C3k2", "C3k", "Bottleneck", "SPPF", "C2PSA", "PSABlock", "Attention", "DFL"),
    "ultralytics.nn.modules.head": ("Detect",),
}


class UnsafeCheckpointError(CheckpointError):
    """The pickle names a global outside :data:`ADMITTED`; nothing of it was run."""


class ModuleRecord:
    """Inert stand-in for a pickled ``nn.Module``: ``kind`` is the class it claims to be and
    ``state`` the attribute dict the pickle sets (``_parameters``, ``_buffers``, ``_modules`` ...)."""

    kind = "?"

    def __init__(self, *args):
        self.args = args
        self.state: dict = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"state": state}

    def __repr__(self):
        return f"<record of {self.kind}>"


class _Storage:
    """Storage type marker: the dtype named by a ``torch.<X>Storage`` global."""

    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """``torch._utils._rebuild_tensor_v2``: a strided view of a storage array, copied, after
    checking that the view lies inside the storage."""
    if not isinstance(storage, np.ndarray):
        raise CheckpointError("a tensor refers to something that is not a storage")
    try:
        offset, size, stride = int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
    except (TypeError, ValueError):
        raise CheckpointError("a tensor's offset, size or stride is not made of integers") from None
    if len(size) != len(stride) or offset < 0 or min((*size, *stride, 0)) < 0:
        raise CheckpointError(f"a tensor has a negative or inconsistent size {size}, stride {stride} or offset {offset}")
    numel = int(np.prod(size, dtype=object))
    if numel > storage.size:
        raise CheckpointError(f"a tensor of size {size} has more elements than its storage ({storage.size})")
    if numel > 0 and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= storage.size:
        raise CheckpointError(f"a tensor of size {size} at offset {offset} runs past its storage of {storage.size} elements")
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, [s * storage.itemsize for s in stride])
    return np.array(view)


def _rebuild_parameter(data, *_ignored):
    """``torch._utils._rebuild_parameter[_with_state]``: a parameter is its data."""
    return data


def _torch_size(*dims):
    return tuple(*dims)


ADMITTED: dict[tuple[str, str], object] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): _torch_size,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    **{("torch", name): _Storage(name) for name in STORAGE_DTYPES},
    **{(mod, name): type(name, (ModuleRecord,), {"kind": f"{mod}.{name}"})
       for mod, names in MODULE_CLASSES.items() for name in names},
}


class _Archive:
    """A zip archive read member by member, each only after the size it declares is checked."""

    def __init__(self, archive: zipfile.ZipFile):
        self.zip, self.declared = archive, 0

    def info(self, name: str) -> zipfile.ZipInfo:
        info = self.zip.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES:
            raise CheckpointError(f"{name} declares {info.file_size} bytes, more than any member of a YOLO11 "
                                  f"checkpoint holds ({MAX_MEMBER_BYTES}); refused")
        self.declared += info.file_size
        if self.declared > MAX_TOTAL_BYTES:
            raise CheckpointError(f"the archive's members declare more than {MAX_TOTAL_BYTES} bytes together; refused")
        return info

    def read(self, name: str) -> bytes:
        return self.zip.read(self.info(name))


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: _Archive, prefix: str, byteorder: str):
        super().__init__(file)
        self._archive, self._prefix, self._byteorder = archive, prefix, byteorder
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        try:
            return ADMITTED[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"checkpoint refers to {module}.{name}, which is not one of the classes a YOLO11 checkpoint "
                "needs; refused without running it") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Storage)):
            raise UnsafeCheckpointError(f"unsupported persistent id {pid!r:.80}")
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        if key not in self._storages:
            self._storages[key] = self._read_storage(kind, key, numel)
        return self._storages[key]

    def _read_storage(self, kind: _Storage, key: str, numel) -> np.ndarray:
        itemsize = 2 if kind.dtype == "bfloat16" else np.dtype(kind.dtype).itemsize
        if not isinstance(numel, int) or numel < 0 or numel * itemsize > MAX_MEMBER_BYTES:
            raise CheckpointError(f"storage {key} declares {numel} elements; refused")
        try:
            raw = self._archive.read(f"{self._prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"storage {key} is missing from the archive") from None
        if len(raw) != numel * itemsize:
            raise CheckpointError(f"storage {key} holds {len(raw)} bytes but declares {numel} elements of {itemsize}")
        little = self._byteorder == "little"
        if kind.dtype == "bfloat16":
            bits = np.frombuffer(raw, "<u2" if little else ">u2").astype(np.uint32) << 16
            return bits.view(np.float32)
        dtype = np.dtype(kind.dtype).newbyteorder("<" if little else ">")
        return np.frombuffer(raw, dtype).astype(np.dtype(kind.dtype).newbyteorder("="))


def read_checkpoint(path: str | Path) -> dict:
    """The unpickled checkpoint dict; models appear as :class:`ModuleRecord` trees, tensors as
    numpy arrays. Raises :class:`CheckpointError` / :class:`UnsafeCheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a zip-based torch checkpoint (saved by torch >= 1.6)")
    with zipfile.ZipFile(path) as zf:
        archive = _Archive(zf)
        pickles = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{path} holds {len(pickles)} top-level data.pkl files, expected 1")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(zf.namelist())
        try:
            byteorder = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
            with zf.open(archive.info(pickles[0])) as f:
                ckpt = _RestrictedUnpickler(f, archive, prefix, byteorder).load()
        except CheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError, ValueError,
                OverflowError, MemoryError, RecursionError, UnicodeDecodeError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{path}: malformed checkpoint pickle ({type(e).__name__}: {e})"[:300]) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not an Ultralytics checkpoint dict")
    return ckpt


def module_state_dict(root: ModuleRecord) -> dict[str, np.ndarray]:
    """``state_dict()`` of a recorded module tree, in PyTorch's order (parameters, persistent
    buffers, then children, recursively)."""
    out: dict[str, np.ndarray] = {}

    def walk(module: ModuleRecord, prefix: str) -> None:
        state = module.state
        skip = state.get("_non_persistent_buffers_set") or set()
        for name, value in (state.get("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value
        for name, value in (state.get("_buffers") or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value
        for name, child in (state.get("_modules") or {}).items():
            if isinstance(child, ModuleRecord):
                walk(child, f"{prefix}{name}.")

    walk(root, "")
    return out


def read_state_dict(path: str | Path, class_ids: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The project's state-dict format (:mod:`yolo_lib.weights`) of a ``.pt`` checkpoint: float32
    arrays under Ultralytics names, ``num_batches_tracked`` dropped, EMA weights when present;
    ``class_ids`` keeps only those classes (:func:`~yolo_lib.weights.state_dicts.select_class_rows`);
    :class:`CheckpointError` when the file is not a readable torch checkpoint of a YOLO11 detection
    model."""
    ckpt = read_checkpoint(path)
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, ModuleRecord):
        raise CheckpointError(f"{path}: no model in the checkpoint (keys {sorted(map(str, ckpt))})")
    sd = {k: np.asarray(v, np.float32) for k, v in module_state_dict(model).items()
          if not k.endswith("num_batches_tracked")}
    return select_class_rows(sd, class_ids) if class_ids is not None else sd
