"""Training checkpoints: one plain dict, written atomically, refused clearly when corrupt.

The dict (:func:`make_checkpoint`)::

    {"model": {name: array},        # parameters and BN running statistics (raw, not EMA)
     "optimizer": {"momentum": {...}, "grad_sum": {...}, "last_step": int, "steps": int},
     "ema": {"values": {name: array}, "updates": int},
     "epoch": int,                  # epochs completed; training resumes at this epoch
     "iteration": int,              # global iterations completed
     "best_fitness": float | None, "best_epoch": int | None,
     "config": TrainConfig.as_dict(), "class_names": [...],
     "fingerprint": {"data": ..., "model": ...},
     "history": [per-epoch result rows]}

On disk it is one ``.npz``: arrays under ``model/``, ``optimizer/momentum/``,
``optimizer/grad_sum/``, ``ema/`` keys and everything else as JSON in ``meta``. Writing goes
to ``<path>.tmp``, is flushed and fsynced, then ``os.replace``d over the old file, so a crash
at any moment leaves either the old or the new checkpoint. Reading checks the zip CRCs, the
format version and that every array is there; anything else is a :class:`CheckpointError`.
The exported weights (``last.npz``/``best.npz``) are state-dict npz files as
:mod:`yolo_lib.weights` reads them, with the class names (``meta/names``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from yolo_lib.weights import NAMES_KEY, NPZ_PREFIX

FORMAT = "yolo_lib.train.checkpoint/1"
ARRAY_GROUPS = {"model": ("model",), "optimizer/momentum": ("optimizer", "momentum"),
                "optimizer/grad_sum": ("optimizer", "grad_sum"), "ema": ("ema", "values")}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (corrupt, incomplete, or for another run)."""


def atomic_savez(path: str | Path, arrays: dict) -> Path:
    """``np.savez`` to ``path`` atomically: tmp file, flush + fsync, ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def _get(d: dict, keys: tuple):
    for k in keys:
        d = d[k]
    return d


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write the checkpoint dict (see module docstring) atomically to ``path`` (.npz)."""
    arrays, meta = {}, {"format": FORMAT}
    for prefix, keys in ARRAY_GROUPS.items():
        for name, value in _get(ckpt, keys).items():
            arrays[f"{prefix}/{name}"] = np.asarray(value)
    meta["optimizer"] = {k: v for k, v in ckpt["optimizer"].items() if k not in ("momentum", "grad_sum")}
    meta["ema_updates"] = ckpt["ema"]["updates"]
    for k, v in ckpt.items():
        if k not in ("model", "optimizer", "ema"):
            meta[k] = v
    meta["array_names"] = sorted(arrays)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    return atomic_savez(path, arrays)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; :class:`CheckpointError` if it is
    missing, truncated, corrupt or not a training checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise CheckpointError(f"{path} is not a yolo_lib training checkpoint (no 'meta' entry)")
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
            missing = sorted(set(meta["array_names"]) - set(z.files))
            if missing:
                raise CheckpointError(f"{path} is incomplete: {len(missing)} arrays missing, e.g. {missing[0]}")
            arrays = {k: z[k] for k in meta["array_names"]}  # reading checks each member's CRC
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: {e}); "
                              "use another checkpoint (e.g. best) or start again") from None
    groups = {prefix: {} for prefix in ARRAY_GROUPS}
    for key, value in arrays.items():
        prefix = next(p for p in sorted(ARRAY_GROUPS, key=len, reverse=True) if key.startswith(p + "/"))
        groups[prefix][key[len(prefix) + 1:]] = value
    ckpt = {k: v for k, v in meta.items() if k not in ("format", "array_names", "optimizer", "ema_updates")}
    ckpt["model"] = groups["model"]
    ckpt["optimizer"] = {**meta["optimizer"], "momentum": groups["optimizer/momentum"],
                         "grad_sum": groups["optimizer/grad_sum"]}
    ckpt["ema"] = {"values": groups["ema"], "updates": meta["ema_updates"]}
    return ckpt


def save_weights(state_dict: dict, class_names, path: str | Path) -> Path:
    """A state-dict npz (``state_dict/<name>`` keys, :func:`yolo_lib.weights.read_npz` reads it)
    plus the class names (``meta/names``), written atomically."""
    arrays = {NPZ_PREFIX + k: np.asarray(v, np.float32) for k, v in state_dict.items()}
    arrays[NAMES_KEY] = np.array([str(n) for n in class_names], dtype=str)
    return atomic_savez(path, arrays)


def fingerprint(arrays: dict) -> str:
    """SHA-1 over names, shapes and dtypes (not values) of ``arrays``: identifies a model layout."""
    h = hashlib.sha1()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        h.update(f"{name}:{a.shape}:{a.dtype};".encode())
    return h.hexdigest()
