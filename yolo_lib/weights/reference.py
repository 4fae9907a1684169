"""The Ultralytics reference arrays behind every parity check: the large shared fixture, or the
compact one shipped in this repository so that a fresh clone runs every comparison.

* ``shared/fixtures/yolo11n_nc2_320.npz`` (CI and the developers' machines; see
  :mod:`yolo_lib.paths`): YOLO11n, nc=2, batch 2 at 320x320, weights stored.
* ``yolo_lib/weights/reference_data/yolo11n_nc2_128.npz`` (always present): the same keys at 128x128,
  batch 2, written by ``scripts/make_reference.py --yolo-lib-seed 0 --compact``. Its weights
  are NOT stored: they come from this project's own initialiser (:func:`seeded_state_dict`)
  and are regenerated here at load time; a SHA-256 of them, stored in the file, proves that
  the regenerated weights are the ones Ultralytics ran.

:func:`load` returns the shared fixture when present, else the compact one, and says which.
Keys follow ``shared/fixtures/README.md`` (``input/img``, ``state_dict/<name>``,
``{eval,train}/layerNN``, ``grad/<name>``, ...); the compact file adds ``meta/*`` entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_lib import settings
from yolo_lib.paths import REPO_ROOT, fixture_path
from yolo_lib.weights.state_dicts import fingerprint

FULL_NAME = "yolo11n_nc2_320.npz"
COMPACT_PATH = REPO_ROOT / "yolo_lib" / "weights" / "reference_data" / "yolo11n_nc2_128.npz"
META = "meta/"
STATE_PREFIX = "state_dict/"


class ReferenceMissingError(FileNotFoundError):
    """No reference file could be found (neither the shared fixture nor the compact one)."""


class Reference(dict):
    """Name -> array mapping of one reference file; ``source`` says which file it is."""

    def __init__(self, arrays: dict, path: Path, compact: bool):
        super().__init__(arrays)
        self.path = Path(path)
        self.compact = compact

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights under bare Ultralytics names (``model.0.conv.weight`` ...)."""
        return {k[len(STATE_PREFIX):]: v for k, v in self.items() if k.startswith(STATE_PREFIX)}

    @property
    def source(self) -> str:
        kind = "compact reference shipped with the repository" if self.compact else "shared Ultralytics fixture"
        img = self["input/img"]
        return f"{kind} ({self.path.name}: batch {img.shape[0]}, {img.shape[2]}x{img.shape[3]} px)"


def randomise_batch_norm(sd: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """In place: BN mean U(-0.5,0.5), var U(0.5,1.5), weight U(0.5,1.5), bias U(-0.5,0.5), so
    eval-mode BN is not the identity (same ranges as the shared fixture's recipe)."""
    for name in [k for k in sd if k.endswith(".bn.running_mean")]:
        stem, n = name[: -len("running_mean")], sd[name].shape
        sd[stem + "running_mean"] = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        sd[stem + "running_var"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        sd[stem + "weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
        sd[stem + "bias"] = rng.uniform(-0.5, 0.5, n).astype(np.float32)


def seeded_state_dict(seed: int, scale: str = "n", nc: int = 2) -> dict[str, np.ndarray]:
    """Ultralytics-named weights from this project's initialiser (``build_yolo11(seed=seed)``)
    with randomised BN statistics and affine parameters (numpy generator ``[seed, 1]``)."""
    from yolo_lib.model import build_yolo11
    from yolo_lib.weights import state_dict

    sd = state_dict(build_yolo11(scale, nc, seed=seed))
    randomise_batch_norm(sd, np.random.default_rng([seed, 1]))
    return sd


def read(path: str | Path) -> Reference:
    """One reference file; a compact one gets its ``state_dict/`` regenerated and verified."""
    path = Path(path)
    if not path.exists():
        raise ReferenceMissingError(f"no reference file at {path}")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    compact = f"{META}weights_seed" in arrays
    if compact:
        seed, nc = int(arrays[f"{META}weights_seed"]), int(arrays[f"{META}nc"])
        sd = seeded_state_dict(seed, str(arrays[f"{META}scale"]), nc)
        want = str(arrays[f"{META}state_dict_sha256"])
        if fingerprint(sd) != want:
            raise ValueError(f"{path}: the weights regenerated from seed {seed} differ from the ones Ultralytics "
                             "ran (did yolo_lib's initialiser change? rewrite the file with scripts/make_reference.py)")
        arrays.update({STATE_PREFIX + k: v for k, v in sd.items()})
    return Reference(arrays, path, compact)


def find(prefer_compact: bool | None = None) -> Path:
    """Path of the reference :func:`load` would read: the shared fixture when present, else the
    compact one. ``prefer_compact`` (default ``$YOLO_REFERENCE=compact``) skips the shared one."""
    if prefer_compact is None:
        prefer_compact = settings.prefer_compact_reference()
    full = None if prefer_compact else fixture_path(FULL_NAME)
    if full is not None:
        return full
    if not COMPACT_PATH.exists():
        raise ReferenceMissingError(f"neither shared/fixtures/{FULL_NAME} nor {COMPACT_PATH} exists")
    return COMPACT_PATH


def load(prefer_compact: bool | None = None, verbose: bool = False) -> Reference:
    """The reference arrays (see :func:`find` for which file); ``verbose`` prints the source."""
    ref = read(find(prefer_compact))
    if verbose:
        print(f"reference: {ref.source}")
    return ref


def loss_summary(ref: dict, mode: str) -> dict[str, float]:
    """Ultralytics' box, cls and dfl losses and the back-propagated total of one BN mode."""
    items = ref[f"{mode}/loss_items"]
    return {"box_loss": float(items[0]), "cls_loss": float(items[1]), "dfl_loss": float(items[2]),
            "total_backward": float(ref[f"{mode}/loss_total_backward"][0])}
