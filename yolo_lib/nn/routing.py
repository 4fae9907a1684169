"""Parameter-free layers of the YOLO11 neck: nearest ``Upsample`` and channel ``Concat``."""

from __future__ import annotations

import pytensor.tensor as pt

from yolo_lib import ops
from yolo_lib.nn.module import Module


class Upsample(Module):
    """Nearest-neighbour upsampling by an integer factor: (B, C, H, W) → (B, C, sH, sW)."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale

    def forward(self, x, ctx):
        return ops.upsample_nearest(x, scale=self.scale)


class Concat(Module):
    """Concatenate a list of NCHW tensors along channels (axis 1)."""

    def forward(self, xs, ctx):
        return pt.concatenate(list(xs), axis=1)
