"""Spatial Pyramid Pooling - Fast (``SPPF``). Tensors are NCHW."""

from __future__ import annotations

import pytensor.tensor as pt

from yolo_lib import ops
from yolo_lib.nn.conv import Conv
from yolo_lib.nn.module import Module


class SPPF(Module):
    """cv1 (1x1 Conv + SiLU, c1 → c1/2), three chained k x k max-pools (stride 1, padding
    k//2 with -inf), cv2 (1x1 Conv, 4 * c1/2 → c2) over cat(y0, y1, y2, y3).

    The chained 5x5 pools see 5x5, 9x9 and 13x13 windows. (B, c1, H, W) → (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.k = k
        self.cv1 = self.add_module("cv1", Conv(c1, c_, 1))
        self.cv2 = self.add_module("cv2", Conv(c_ * 4, c2, 1))

    def forward(self, x, ctx):
        ys = [self.cv1(x, ctx)]
        for _ in range(3):
            ys.append(ops.max_pool2d(ys[-1], self.k, stride=1, padding=self.k // 2))
        return self.cv2(pt.concatenate(ys, axis=1), ctx)
