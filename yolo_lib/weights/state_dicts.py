"""Ultralytics state dicts in and out: names → numpy arrays, exactly as PyTorch names them.

A state dict here is a mapping ``"model.0.conv.weight" → array`` holding every trainable
tensor, the BN running statistics and the frozen DFL weight ``model.23.dfl.conv.weight``
(``num_batches_tracked`` counters are accepted and ignored: YOLO11 never reads them).
The fixture files store the same mapping under ``state_dict/<name>`` keys; a ``.pt``
checkpoint converts to it with ``scripts/pt_to_npz.py`` (see ``docs/weights.md``).

* :func:`load_state_dict` copies a state dict into a model: every entry must be used and every
  shape must match, else one :class:`StateDictError` lists the missing, unexpected and
  mismatched names. ``class_ids`` selects class rows of a larger head (COCO person = 0,
  cell phone = 67; :func:`select_class_rows`) so an 80-class checkpoint can start a model with
  fewer classes.
* :func:`state_dict` is the inverse (PyTorch order); :func:`model_from_state_dict` infers
  scale, nc and head width and builds the matching model.
* Class names travel with a checkpoint: :func:`write_npz` (:func:`save_npz` for a model) writes
  them as a ``meta/names`` string array (index = class row), atomically; :func:`read_class_names`
  reads them back (None for files written before names were stored, such as the fixtures).
* :func:`fingerprint` identifies weights (names, shapes and values) or, with ``values=False``, a
  model layout (names and shapes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from yolo_lib.files import atomic_savez
from yolo_lib.model import DETECT_INDEX, YOLO11, build_yolo11
from yolo_lib.task import COCO80_ROWS

NPZ_PREFIX = "state_dict/"
NAMES_KEY = "meta/names"
IGNORED_SUFFIX = "num_batches_tracked"
#: Rows of the workshop's classes in an 80-class COCO head (:data:`yolo_lib.task.COCO80_ROWS`).
COCO_PERSON, COCO_CELL_PHONE = COCO80_ROWS["person"], COCO80_ROWS["cell phone"]


class CheckpointError(ValueError):
    """Weights or a checkpoint that cannot be used (corrupt, incomplete, unsafe, or for another
    run or model): a ``.pt`` file (:mod:`yolo_lib.weights.checkpoint_pt`), a training checkpoint
    (:mod:`yolo_lib.train.checkpoint`)."""


class StateDictError(CheckpointError):
    """A state dict that does not fit the model; the message lists every problem."""


def dfl_key() -> str:
    return f"model.{DETECT_INDEX}.dfl.conv.weight"


def class_row_keys(sd: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the head tensors of ``sd`` (a state dict or a model's ``params``) whose first axis
    is the class axis: ``cv3.<level>.2`` weight and bias of every level."""
    keys, level = [], 0
    while f"model.{DETECT_INDEX}.cv3.{level}.2.weight" in sd:
        keys += [f"model.{DETECT_INDEX}.cv3.{level}.2.{p}" for p in ("weight", "bias")]
        level += 1
    return keys


def select_class_rows(sd: Mapping[str, np.ndarray], class_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """A copy of ``sd`` whose class outputs keep only the rows ``class_ids``, in that order: e.g.
    ``[COCO_PERSON, COCO_CELL_PHONE]`` turns COCO's 80 classes into the workshop's two.
    :class:`StateDictError` for ids that are not distinct indices below the source's class count."""
    rows = [int(c) for c in class_ids]
    keys = class_row_keys(sd)
    if not keys:
        raise StateDictError(f"no Detect class outputs model.{DETECT_INDEX}.cv3.<level>.2 in the state dict")
    n = min(np.shape(sd[k])[0] for k in keys)
    if not rows or len(set(rows)) != len(rows) or min(rows) < 0:
        raise StateDictError(f"class_ids {rows} must be distinct non-negative class indices")
    if max(rows) >= n:
        raise StateDictError(f"class_ids {rows}: class id {max(rows)} >= {n} source classes (they must be "
                             f"indices below the checkpoint's {n} classes)")
    return {**sd, **{k: np.asarray(sd[k])[rows] for k in keys}}


def state_dict(model: YOLO11) -> dict[str, np.ndarray]:
    """Every tensor of the model under its Ultralytics name, in PyTorch's order (float32).

    Per module: its parameters, then its buffers; the frozen DFL weight closes the head.
    """
    out: dict[str, np.ndarray] = {}
    for prefix, module in model.named_modules():
        for name, var in list(module._params.items()) + list(module._buffers.items()):
            out[f"{prefix}.{name}"] = np.asarray(var.get_value(), dtype=np.float32)
    out[dfl_key()] = model.detect.dfl_weight()
    return out


def load_state_dict(model: YOLO11, sd: Mapping[str, np.ndarray], class_ids: Sequence[int] | None = None) -> None:
    """Copy the Ultralytics-named arrays ``sd`` into ``model`` (parameters and BN buffers).

    class_ids: when given, the source head has more classes and ``model.nc ==
    len(class_ids)``; the class rows ``class_ids`` (in that order) of every
    ``cv3.i.2.weight`` / ``.bias`` become the model's classes 0..nc-1.
    Raises :class:`StateDictError` (a ValueError) naming every missing, unexpected or
    mismatched entry; nothing is changed then.
    """
    if not isinstance(sd, Mapping):
        raise TypeError(f"state dict must be a mapping name -> array, got {type(sd).__name__}")
    targets = {**model.params, **model.buffers}
    selected = set()
    if class_ids is not None:
        rows = [int(c) for c in class_ids]
        if len(rows) != model.nc:
            raise StateDictError(f"class_ids {rows} select {len(rows)} classes but the model has nc={model.nc}")
        sd, selected = select_class_rows(sd, rows), set(class_row_keys(sd))
    given = {k: v for k, v in sd.items() if not k.endswith(IGNORED_SUFFIX)}
    missing = [k for k in targets if k not in given]
    unexpected = [k for k in given if k not in targets and k != dfl_key()]
    mismatched, values = [], {}
    for name, var in targets.items():
        if name not in given:
            continue
        value = np.asarray(given[name])
        if not np.issubdtype(value.dtype, np.number):
            mismatched.append(f"{name}: dtype {value.dtype} is not numeric")
            continue
        if value.shape != var.type.shape:
            note = " (after selecting class rows)" if name in selected else ""
            mismatched.append(f"{name}: model {var.type.shape}, state dict {value.shape}{note}")
            continue
        values[name] = value.astype(np.float32)
    if dfl_key() in given and not np.array_equal(np.asarray(given[dfl_key()]).ravel(), model.detect.dfl_weight().ravel()):
        mismatched.append(f"{dfl_key()}: the frozen DFL weight must be 0..{model.reg_max - 1}")
    if missing or unexpected or mismatched:
        raise StateDictError(_problem_report(missing, unexpected, mismatched, model))
    for name, value in values.items():
        targets[name].set_value(value)


def _problem_report(missing, unexpected, mismatched, model: YOLO11) -> str:
    lines = [f"state dict does not fit YOLO11{model.scale} (nc={model.nc}, class-branch width "
             f"{model.detect.c3}): {len(missing)} missing, {len(unexpected)} unexpected, "
             f"{len(mismatched)} mismatched"]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {item}" for item in items)
    if any(".cv3." in m for m in mismatched):
        lines.append("hint: for a checkpoint with more classes pass class_ids=[...] and build the "
                     "model with its class-branch width (weights.model_from_state_dict does both)")
    return "\n".join(lines)


def infer_architecture(sd: Mapping[str, np.ndarray]) -> dict:
    """Scale, nc and class-branch width (``cls_hidden``) of an Ultralytics YOLO11 state dict."""
    try:
        stem = np.shape(sd["model.0.conv.weight"])[0]
        cls_w = np.shape(sd[f"model.{DETECT_INDEX}.cv3.0.2.weight"])
    except KeyError as err:
        raise StateDictError(f"not a YOLO11 detection state dict: no {err.args[0]!r}") from None
    deep = "model.2.m.1.cv1.conv.weight" in sd
    scales = {16: "n", 32: "s", 64: "l" if deep else "m", 96: "x"}
    if stem not in scales:
        raise StateDictError(f"first conv has {stem} channels; YOLO11 n/s/m/l/x have 16/32/64/64/96")
    return {"scale": scales[stem], "nc": int(cls_w[0]), "cls_hidden": int(cls_w[1])}


def model_from_state_dict(sd: Mapping[str, np.ndarray], class_ids: Sequence[int] | None = None) -> YOLO11:
    """Build the YOLO11 that ``sd`` describes and load it; with ``class_ids`` keep only those
    classes (in that order), e.g. ``[COCO_PERSON, COCO_CELL_PHONE]`` for a 2-class model."""
    arch = infer_architecture(sd)
    nc = arch["nc"] if class_ids is None else len(class_ids)
    model = build_yolo11(arch["scale"], nc, init=False, cls_hidden=arch["cls_hidden"])
    load_state_dict(model, sd, class_ids)
    return model


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """State dict from an ``.npz``: keys ``state_dict/<name>`` (fixture layout) or bare names."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no state-dict file at {path}")
    with np.load(path) as z:
        keys = z.files
        if any(k.startswith(NPZ_PREFIX) for k in keys):
            return {k[len(NPZ_PREFIX):]: z[k] for k in keys if k.startswith(NPZ_PREFIX)}
        return {k: z[k] for k in keys}


def read_class_names(path: str | Path) -> list[str] | None:
    """The class names stored with a state-dict ``.npz`` (``meta/names``), or None if it has none."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no state-dict file at {path}")
    with np.load(path) as z:
        if NAMES_KEY not in z.files:
            return None
        return [str(n) for n in z[NAMES_KEY]]


def write_npz(sd: Mapping[str, np.ndarray], path: str | Path, names: Sequence[str] | None = None) -> Path:
    """Write the state dict ``sd`` (float32) to ``path`` under ``state_dict/<name>`` keys (fixture
    layout), atomically (:func:`yolo_lib.files.atomic_savez`). ``names``: the class names (one per
    class row), stored as ``meta/names``."""
    arrays = {NPZ_PREFIX + k: np.asarray(v, np.float32) for k, v in sd.items()}
    if names is not None:
        names = [str(n) for n in names]
        keys = class_row_keys(sd)
        nc = np.shape(sd[keys[0]])[0] if keys else None
        if len(names) != nc:
            raise ValueError(f"{len(names)} class names given for a model with nc={nc}")
        arrays[NAMES_KEY] = np.array(names, dtype=str)
    return atomic_savez(path, arrays)


def save_npz(model: YOLO11, path: str | Path, names: Sequence[str] | None = None) -> Path:
    """:func:`write_npz` of the model's :func:`state_dict`."""
    return write_npz(state_dict(model), path, names)


def fingerprint(sd: Mapping[str, np.ndarray], values: bool = True) -> str:
    """SHA-256 (hex) over every name and shape of ``sd``, sorted by name, and with ``values`` its
    float32 bytes: ``values=True`` identifies weights (the compact reference's regenerated weights,
    the evaluator's exported model), ``values=False`` a model layout (a training checkpoint's model)."""
    h = hashlib.sha256()
    for k in sorted(sd):
        v = np.ascontiguousarray(sd[k], dtype=np.float32)
        h.update(f"{k}{v.shape}".encode())
        if values:
            h.update(v.tobytes())
    return h.hexdigest()
