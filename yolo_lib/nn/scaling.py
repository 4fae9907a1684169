"""YOLO11's compound scaling: channel widths and block repeats for the scales n, s, m, l, x.

Ultralytics describes YOLO11 once (``yolo11.yaml``, written for the largest widths) and scales
every layer with three numbers per scale: depth multiple, width multiple and a channel cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """Depth multiple, width multiple and channel cap of one model scale."""

    name: str
    depth: float
    width: float
    max_channels: int

    def channels(self, c: int) -> int:
        """Scaled width of a layer written as ``c`` channels in the yaml (a multiple of 8)."""
        return make_divisible(min(c, self.max_channels) * self.width, 8)

    def repeats(self, n: int) -> int:
        """Scaled number of repeated blocks for a yaml repeat count ``n`` (at least 1)."""
        return max(round(n * self.depth), 1) if n > 1 else n

    @property
    def c3k_everywhere(self) -> bool:
        """True for m, l, x: every C3k2 then uses C3k blocks (Ultralytics' parse_model rule)."""
        return self.name in "mlx"


SCALES = {
    "n": Scale("n", 0.50, 0.25, 1024),
    "s": Scale("s", 0.50, 0.50, 1024),
    "m": Scale("m", 0.50, 1.00, 512),
    "l": Scale("l", 1.00, 1.00, 512),
    "x": Scale("x", 1.00, 1.50, 512),
}


def make_divisible(x: float, divisor: int) -> int:
    """Smallest multiple of ``divisor`` that is >= ``x`` (Ultralytics' ``make_divisible``)."""
    return int(math.ceil(x / divisor) * divisor)


def get_scale(scale: str) -> Scale:
    """The :class:`Scale` named ``scale`` (one of n, s, m, l, x)."""
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(f"scale must be one of {tuple(SCALES)}, got {scale!r}")
    return SCALES[scale]
