"""CSP blocks of YOLO11: ``Bottleneck``, ``C3k`` and ``C3k2``. Tensors are NCHW."""

from __future__ import annotations

import pytensor.tensor as pt

from yolo_lib.nn.conv import Conv
from yolo_lib.nn.module import Module, Sequential


class Bottleneck(Module):
    """Two 3x3 Convs c1 → int(c2*e) → c2, plus the input when ``shortcut`` and c1 == c2.

    Children ``cv1``, ``cv2``. (B, c1, H, W) → (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, shortcut: bool = True, e: float = 0.5):
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = self.add_module("cv1", Conv(c1, hidden, 3))
        self.cv2 = self.add_module("cv2", Conv(hidden, c2, 3))
        self.add = shortcut and c1 == c2

    def forward(self, x, ctx):
        y = self.cv2(self.cv1(x, ctx), ctx)
        return x + y if self.add else y


class C3k(Module):
    """CSP block with n Bottlenecks(e=1.0): cv3(cat(m(cv1(x)), cv2(x))), hidden int(c2*e).

    Children ``cv1``, ``cv2`` (1x1, c1 → c_), ``m`` (Sequential of n Bottlenecks c_ → c_),
    ``cv3`` (1x1, 2c_ → c2). (B, c1, H, W) → (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, n: int = 2, shortcut: bool = True, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = self.add_module("cv1", Conv(c1, c_, 1))
        self.cv2 = self.add_module("cv2", Conv(c1, c_, 1))
        self.cv3 = self.add_module("cv3", Conv(2 * c_, c2, 1))
        self.m = self.add_module("m", Sequential(*(Bottleneck(c_, c_, shortcut, e=1.0) for _ in range(n))))

    def forward(self, x, ctx):
        a = self.m(self.cv1(x, ctx), ctx)
        b = self.cv2(x, ctx)
        return self.cv3(pt.concatenate([a, b], axis=1), ctx)


class C3k2(Module):
    """YOLO11's C2f-style block: split cv1's output, chain n blocks, concatenate all pieces.

    c = int(c2*e); ``cv1`` 1x1 c1 → 2c split into y0, y1; each of the n blocks in ``m``
    (Bottleneck(c, c, e=0.5), or C3k(c, c, n=2) when ``c3k``) takes the last piece and
    appends its output; ``cv2`` 1x1 (2+n)c → c2 over the concatenation.
    (B, c1, H, W) → (B, c2, H, W).
    """

    def __init__(self, c1: int, c2: int, n: int = 1, c3k: bool = False, e: float = 0.5,
                 shortcut: bool = True):
        super().__init__()
        self.c = c = int(c2 * e)
        self.cv1 = self.add_module("cv1", Conv(c1, 2 * c, 1))
        self.cv2 = self.add_module("cv2", Conv((2 + n) * c, c2, 1))
        blocks = (C3k(c, c, 2, shortcut) if c3k else Bottleneck(c, c, shortcut, e=0.5) for _ in range(n))
        self.m = self.add_module("m", Sequential(*blocks))

    def forward(self, x, ctx):
        y = self.cv1(x, ctx)
        pieces = [y[:, : self.c], y[:, self.c:]]
        for block in self.m:
            pieces.append(block(pieces[-1], ctx))
        return self.cv2(pt.concatenate(pieces, axis=1), ctx)
