"""The YOLO11 ``Detect`` head: per-level box-distribution and class branches."""

from __future__ import annotations

import math

import numpy as np

from yolo_lib.nn.conv import Conv, Conv2d, DWConv
from yolo_lib.geometry import REG_MAX, STRIDES
from yolo_lib.nn.dfl import decode
from yolo_lib.nn.module import Module, Sequential


class Detect(Module):
    """Decoupled head over feature maps with channels ``ch`` (P3, P4, P5; strides 8, 16, 32).

    Per level i: box branch ``cv2.i`` = Conv3x3(ch_i → c2), Conv3x3(c2 → c2), Conv2d 1x1 with
    bias (c2 → 64), c2 = max(16, ch_0/4, 64); class branch ``cv3.i`` = [DWConv3x3(ch_i),
    Conv1x1(ch_i → c3)], [DWConv3x3(c3), Conv1x1(c3 → c3)], Conv2d 1x1 with bias (c3 → nc),
    c3 = max(ch_0, min(nc, 100)) unless ``c3`` is given (a model that takes a pretrained
    80-class head with fewer classes keeps the 80-wide hidden layers). The DFL projection (``dfl.conv.weight`` = 0..15) is frozen:
    it is not a parameter here, only counted in :attr:`num_frozen`.
    """

    strides = STRIDES
    num_frozen = REG_MAX  # the frozen DFL conv weight (1, 16, 1, 1)

    def __init__(self, nc: int, ch: tuple[int, ...], c3: int | None = None):
        super().__init__()
        if nc < 1:
            raise ValueError(f"nc (number of classes) must be >= 1, got {nc}")
        if len(ch) != len(self.strides):
            raise ValueError(f"Detect expects {len(self.strides)} levels, got channels {ch}")
        self.nc, self.ch = nc, tuple(ch)
        self.reg_max = REG_MAX
        c2 = max(16, ch[0] // 4, 4 * REG_MAX)
        c3 = max(ch[0], min(nc, 100)) if c3 is None else int(c3)
        self.c2, self.c3 = c2, c3
        self.cv2 = self.add_module("cv2", Sequential(*(
            Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), Conv2d(c2, 4 * REG_MAX, 1)) for c in ch
        )))
        self.cv3 = self.add_module("cv3", Sequential(*(
            Sequential(
                Sequential(DWConv(c, c, 3), Conv(c, c3, 1)),
                Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                Conv2d(c3, nc, 1),
            )
            for c in ch
        )))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        super().reset_parameters(rng)
        self.bias_init()

    def bias_init(self) -> None:
        """Ultralytics' prior: box biases 2.0; class biases log(5 / nc / (640 / s)^2)."""
        for box_branch, cls_branch, s in zip(self.cv2, self.cv3, self.strides):
            box_out, cls_out = box_branch[2], cls_branch[2]
            box_out.bias.set_value(np.full(box_out.c2, 2.0, np.float32))
            cls_out.bias.set_value(np.full(self.nc, math.log(5 / self.nc / (640 / s) ** 2), np.float32))

    def forward(self, features, ctx):
        """features [(B, ch_i, H_i, W_i)] → (box [(B, 64, H_i, W_i)], cls [(B, nc, H_i, W_i)])."""
        box = [branch(x, ctx) for branch, x in zip(self.cv2, features)]
        cls = [branch(x, ctx) for branch, x in zip(self.cv3, features)]
        return box, cls

    def decode(self, box, cls):
        """Raw per-level outputs → inference output (B, 4+nc, A) (see :mod:`yolo_lib.nn.dfl`)."""
        return decode(box, cls, self.strides, self.reg_max)

    def dfl_weight(self) -> np.ndarray:
        """The frozen DFL projection as Ultralytics stores it: (1, 16, 1, 1) = 0..15."""
        return np.arange(self.reg_max, dtype=np.float32).reshape(1, self.reg_max, 1, 1)
