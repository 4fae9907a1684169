"""A reference file's arrays plus a model holding its weights (the input of every parity group)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from yolo_lib import weights
from yolo_lib.compilation.functions import eval_function, train_forward_function


class ParityCase:
    """A reference file's arrays plus a model holding its weights; outputs computed lazily.

    ``ref`` (dict key → array), ``images`` (B, 3, H, W) float32, ``state_dict`` (names →
    arrays), ``model`` (a YOLO11 with those weights, or None if they could not be imported;
    ``import_error`` then says why). ``eval_outputs()`` / ``train_outputs()`` return dicts
    keyed like the fixture (``layer00``, ``box_raw_P3``, ``inference_out``, ``bn/<name>``),
    compiled once per case. ``train_outputs`` does not change the model's buffers.
    """

    def __init__(self, ref: Mapping[str, np.ndarray]):
        self.ref = dict(ref)
        self.images = self.ref.get("input/img")
        self.state_dict = {k[len(weights.NPZ_PREFIX):]: v for k, v in self.ref.items()
                           if k.startswith(weights.NPZ_PREFIX)}
        self.model, self.import_error = None, None
        if self.images is None:
            self.import_error = "the file has no input/img"
        elif not self.state_dict:
            self.import_error = "the file has no state_dict/* weights"
        else:
            try:
                self.model = weights.model_from_state_dict(self.state_dict)
            except ValueError as err:
                self.import_error = str(err)
        self._cache: dict = {}

    def has(self, prefix: str) -> bool:
        """True when some reference key starts with ``prefix``."""
        return any(k.startswith(prefix) for k in self.ref)

    @property
    def shape(self) -> tuple[int, int, int]:
        b, _, h, w = self.images.shape
        return b, h, w

    def eval_outputs(self) -> dict:
        if "eval" not in self._cache:
            self._cache["eval"] = eval_function(self.model, *self.shape, outputs="all")(self.images)
        return self._cache["eval"]

    def train_outputs(self) -> dict:
        if "train" not in self._cache:
            self._cache["train"] = train_forward_function(self.model, *self.shape)(self.images)
        return self._cache["train"]

    def reset_outputs(self) -> None:
        """Forget computed outputs (after changing the model's weights)."""
        self._cache.clear()


def read_reference(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of a reference ``.npz`` (a compact one's weights regenerated, see :mod:`yolo_lib.weights.reference`)."""
    from yolo_lib.weights.reference import read

    return dict(read(path))
