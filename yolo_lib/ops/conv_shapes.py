"""The distinct convolutions of a model, read from its symbolic graph (nothing is compiled).

``conv_inventory(model, batch=8, h=320, w=320)`` builds the eval forward for a static input
shape (B, 3, H, W), walks the graph and returns one :class:`ConvLayer` per distinct
:class:`yolo_lib.ops.conv.Conv2d` shape, with how many layers share it. Used by
``benchmarks/bench_conv_layers.py`` (per-layer profile) and the lowering tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytensor.tensor as pt
from pytensor.graph.traversal import io_toposort

from yolo_lib.ops.conv import Conv2d
from yolo_lib.ops.conv_lowering import ConvShape, conv_shape
from yolo_lib.task import IMGSZ


@dataclass(frozen=True)
class ConvLayer:
    """One distinct conv shape of the model and how many of its layers have it."""

    shape: ConvShape
    count: int


def conv_inventory(model, batch: int = 8, h: int = IMGSZ, w: int = IMGSZ) -> list[ConvLayer]:
    """Distinct conv shapes of ``model``'s forward for images (batch, 3, h, w), in graph order."""
    x = pt.tensor4("images", dtype="float32", shape=(batch, 3, h, w))
    out = model.forward(x, train=False)
    counts: dict[ConvShape, int] = {}
    for node in io_toposort([x], out.layers + out.box + out.cls):
        if isinstance(node.op, Conv2d):
            xs, ws = node.inputs[0].type.shape, node.inputs[1].type.shape
            key = conv_shape(node.op, xs, ws)
            counts[key] = counts.get(key, 0) + 1
    return [ConvLayer(s, c) for s, c in counts.items()]
