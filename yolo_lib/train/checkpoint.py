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
``optimizer/grad_sum/``, ``ema/`` keys and everything else as JSON in ``meta``. It is written
atomically (:func:`yolo_lib.files.atomic_savez`: a temporary file, fsynced, renamed over the old
one), so a crash at any moment leaves either the old or the new checkpoint. Reading checks the zip CRCs, the
format version and that every array is there; anything else is a :class:`CheckpointError`.
The exported weights (``last.npz``/``best.npz``) are state-dict npz files with the class names
(:func:`yolo_lib.weights.write_npz`). :class:`~yolo_lib.weights.CheckpointError` is the error
of every unusable checkpoint, this one or a ``.pt`` file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from yolo_lib.files import atomic_savez
from yolo_lib.weights import CheckpointError

FORMAT = "yolo_lib.train.checkpoint/1"
ARRAY_GROUPS = {"model": ("model",), "optimizer/momentum": ("optimizer", "momentum"),
                "optimizer/grad_sum": ("optimizer", "grad_sum"), "ema": ("ema", "values")}


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
