"""YOLO11 (scales n, s, m, l, x) assembled from :mod:`yolo_lib.nn`, exact to Ultralytics.

API (used by the loss, training and ONNX modules)
--------------------------------------------------
``model = build_yolo11(scale="n", nc=80, seed=0)``
    A :class:`YOLO11`, initialised like Ultralytics (PyTorch default conv init U(±1/sqrt(fan_in)),
    BN weight 1 / bias 0 / running mean 0 / var 1, Detect bias prior). ``init=False`` leaves
    everything at zeros/ones (cheap: only for counting parameters). ``cls_hidden`` overrides the
    Detect class-branch width (to keep an 80-class checkpoint's head with fewer classes).

``model.params``  : dict Ultralytics name → float32 shared variable with a static shape,
    every trainable tensor in state-dict order (conv weights, BN weight/bias, head biases),
    e.g. ``model.0.conv.weight``, ``model.23.cv3.0.2.bias``. 255 entries for YOLO11n.
``model.buffers`` : dict name → shared variable for the BN ``running_mean`` / ``running_var``
    (162 entries for n). Not trainable; updated only through a train forward's ``updates``.
``model.nc``, ``model.scale``, ``model.strides`` (8, 16, 32), ``model.reg_max`` (16),
``model.num_parameters()`` (incl. the 16 frozen DFL weights; 2,590,230 for n at nc=2).

``out = model.forward(x, train=False)`` with ``x`` a symbolic (B, 3, H, W) float32 tensor
    (H, W multiples of 32) returns a :class:`ForwardResult`. B, H, W may be unknown in the
    symbolic graph, but JAX compilation needs them static (and PyTensor's rewriting of
    shape-unknown graphs is very slow): give ``x`` a static shape, as
    :mod:`yolo_lib.compilation.functions` does, one compiled function per input shape.

    - ``out.layers``  : list of the 23 top-level layer outputs (fixture keys layer00..layer22);
    - ``out.box``     : [P3, P4, P5] raw box-distribution logits (B, 64, H/s, W/s),
      channel = side*16 + bin with sides (l, t, r, b);
    - ``out.cls``     : [P3, P4, P5] raw class logits (B, nc, H/s, W/s);
    - ``out.updates`` : BN running-statistic updates ``[(shared, new), ...]`` for
      ``pytensor.function(updates=...)`` (train mode: momentum 0.03, unbiased batch variance;
      empty in eval mode, which normalises with the running statistics);
    - ``out.decoded()``: the inference output (B, 4+nc, A): cx, cy, w, h in input pixels, then
      sigmoid class scores; anchors P3, P4, P5, each row-major (A = 2100 at 320x320).

``model.decode(box, cls)`` : the same decoding for any raw per-level outputs.
``model.inference(x)`` : shorthand for ``model.forward(x).decoded()`` (eval mode).
``model.layer_table(h, w)`` : rows (index, from, block, args, params, output shape) of the
    24 layers, shapes from static shape inference (nothing is compiled).

The eval graph contains only :mod:`yolo_lib.ops` Ops (Conv2d, BatchNormEval, MaxPool2d,
UpsampleNearest), plain elementwise ops (SiLU = x*sigmoid(x)), Reshape/DimShuffle/Join/
Subtensor, Matmul and Softmax (the DFL softmax on the last axis).

Compiled functions: :func:`yolo_lib.compilation.functions.eval_function`, ``train_forward_function`` and
``block_function`` (one block alone); ``yolo_lib.compilation.functions.MODE`` is the compile mode to use
for any function over the model (JAX linker, fast_compile + jax rewrites).
Weights: :mod:`yolo_lib.weights` (Ultralytics state dicts in and out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytensor.tensor as pt

from yolo_lib.nn import C2PSA, SPPF, C3k2, Concat, Conv, Detect, ForwardContext, Module, Upsample
from yolo_lib.nn.module import Sequential
from yolo_lib.nn.scaling import Scale, get_scale
from yolo_lib.task import IMGSZ

#: yolo11.yaml: (from, repeats, block, args) with channels written for the widest model.
YOLO11_LAYERS: tuple = (
    (-1, 1, "Conv", (64, 3, 2)),  # 0  P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1  P2/4
    (-1, 2, "C3k2", (256, False, 0.25)),  # 2
    (-1, 1, "Conv", (256, 3, 2)),  # 3  P3/8
    (-1, 2, "C3k2", (512, False, 0.25)),  # 4
    (-1, 1, "Conv", (512, 3, 2)),  # 5  P4/16
    (-1, 2, "C3k2", (512, True)),  # 6
    (-1, 1, "Conv", (1024, 3, 2)),  # 7  P5/32
    (-1, 2, "C3k2", (1024, True)),  # 8
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 2, "C2PSA", (1024,)),  # 10
    (-1, 1, "Upsample", (2,)),  # 11
    ((-1, 6), 1, "Concat", ()),  # 12 cat backbone P4
    (-1, 2, "C3k2", (512, False)),  # 13
    (-1, 1, "Upsample", (2,)),  # 14
    ((-1, 4), 1, "Concat", ()),  # 15 cat backbone P3
    (-1, 2, "C3k2", (256, False)),  # 16 (P3/8)
    (-1, 1, "Conv", (256, 3, 2)),  # 17
    ((-1, 13), 1, "Concat", ()),  # 18 cat head P4
    (-1, 2, "C3k2", (512, False)),  # 19 (P4/16)
    (-1, 1, "Conv", (512, 3, 2)),  # 20
    ((-1, 10), 1, "Concat", ()),  # 21 cat head P5
    (-1, 2, "C3k2", (1024, True)),  # 22 (P5/32)
    ((16, 19, 22), 1, "Detect", ()),  # 23 Detect(P3, P4, P5)
)
N_LAYERS = len(YOLO11_LAYERS)
DETECT_INDEX = N_LAYERS - 1


@dataclass
class LayerInfo:
    """How one top-level layer is wired: inputs ``sources`` (absolute indices), block, args."""

    index: int
    src: int | tuple[int, ...]  # as written in the yaml (-1 = previous layer)
    sources: tuple[int, ...]
    block: str
    args: tuple
    module: Module


@dataclass
class ForwardResult:
    """Symbolic outputs of one forward pass (see the module docstring)."""

    layers: list
    box: list
    cls: list
    updates: list = field(default_factory=list)
    model: "YOLO11 | None" = None

    def decoded(self):
        """Inference output (B, 4+nc, A) from this pass's raw head outputs."""
        return self.model.decode(self.box, self.cls)


def _build_layer(kind: str, args: tuple, c_in: list[int], scale: Scale, n: int, nc: int,
                 cls_hidden: int | None = None):
    """Module and output channels of one yaml row, channels/repeats already resolved."""
    if kind == "Conv":
        c2, k, s = scale.channels(args[0]), args[1], args[2]
        return Conv(c_in[0], c2, k, s), c2, (c_in[0], c2, k, s)
    if kind == "C3k2":
        c2 = scale.channels(args[0])
        c3k = bool(args[1]) or scale.c3k_everywhere
        e = args[2] if len(args) > 2 else 0.5
        return C3k2(c_in[0], c2, n, c3k, e), c2, (c_in[0], c2, n, c3k, e)
    if kind == "SPPF":
        c2 = scale.channels(args[0])
        return SPPF(c_in[0], c2, args[1]), c2, (c_in[0], c2, args[1])
    if kind == "C2PSA":
        c2 = scale.channels(args[0])
        return C2PSA(c_in[0], c2, n), c2, (c_in[0], c2, n)
    if kind == "Upsample":
        return Upsample(args[0]), c_in[0], (args[0],)
    if kind == "Concat":
        return Concat(), sum(c_in), ()
    if kind == "Detect":
        return Detect(nc, tuple(c_in), cls_hidden), None, (nc, tuple(c_in))
    raise ValueError(f"unknown block {kind!r}")


class YOLO11(Module):
    """The YOLO11 detection model; its only child ``model`` holds the 24 numbered layers."""

    def __init__(self, scale: str = "n", nc: int = 80, cls_hidden: int | None = None):
        super().__init__()
        if not isinstance(nc, (int, np.integer)) or isinstance(nc, bool) or nc < 1:
            raise ValueError(f"nc (number of classes) must be a positive int, got {nc!r}")
        self.scale, self.nc = scale, int(nc)
        sc = get_scale(scale)
        self.model = self.add_module("model", Sequential())
        self.layer_info: list[LayerInfo] = []
        channels: list[int] = []
        for i, (frm, reps, kind, args) in enumerate(YOLO11_LAYERS):
            sources = tuple(i + f if f < 0 else f for f in ((frm,) if isinstance(frm, int) else frm))
            c_in = [channels[s] if s >= 0 else 3 for s in sources]
            n = sc.repeats(reps)
            module, c_out, resolved = _build_layer(kind, args, c_in, sc, n, self.nc, cls_hidden)
            self.model.add_module(str(i), module)
            self.layer_info.append(LayerInfo(i, frm, sources, kind, resolved, module))
            channels.append(c_out)
        self.detect: Detect = self.layer_info[DETECT_INDEX].module
        self.strides, self.reg_max = self.detect.strides, self.detect.reg_max
        self.params = dict(self.named_parameters())
        self.buffers = dict(self.named_buffers())
        for name, var in {**self.params, **self.buffers}.items():
            var.name = name

    def num_parameters(self, include_frozen: bool = True) -> int:
        """Trainable scalars, plus the 16 frozen DFL weights when ``include_frozen`` (as the
        Ultralytics table counts them)."""
        return super().num_parameters() + (self.detect.num_frozen if include_frozen else 0)

    def forward(self, x, train: bool = False) -> ForwardResult:
        """Symbolic forward of images x (B, 3, H, W) float32; see the module docstring."""
        x = _check_images(x)
        ctx = ForwardContext(train=bool(train))
        outputs: list = []
        for info in self.layer_info[:DETECT_INDEX]:
            inputs = [outputs[s] if s >= 0 else x for s in info.sources]
            outputs.append(info.module(inputs if info.block == "Concat" else inputs[0], ctx))
        features = [outputs[s] for s in self.layer_info[DETECT_INDEX].sources]
        box, cls = self.detect(features, ctx)
        return ForwardResult(outputs, box, cls, ctx.updates, self)

    __call__ = forward

    def decode(self, box, cls):
        """Raw per-level head outputs → inference output (B, 4+nc, A)."""
        return self.detect.decode(box, cls)

    def inference(self, x):
        """Eval-mode decoded output (B, 4+nc, A) for images x (B, 3, H, W)."""
        return self.forward(x, train=False).decoded()

    def layer_table(self, h: int = IMGSZ, w: int = IMGSZ, batch: int = 1) -> list[dict]:
        """One row per top-level layer: index, from, block, args, params, output shape (C, H, W).

        Shapes come from static shape inference on a (batch, 3, h, w) input; nothing runs.
        The Detect row's shape is the number of anchors.
        """
        x = pt.tensor4("images", shape=(batch, 3, h, w), dtype="float32")
        out = self.forward(x)
        rows = []
        for info in self.layer_info:
            if info.index == DETECT_INDEX:
                shape = f"{sum(b.type.shape[2] * b.type.shape[3] for b in out.box)} anchors"
            else:
                shape = "x".join(str(d) for d in out.layers[info.index].type.shape[1:])
            rows.append(dict(index=info.index, src=info.src, block=info.block,
                             args=info.args, params=info.module.num_parameters()
                             + (self.detect.num_frozen if info.index == DETECT_INDEX else 0),
                             shape=shape))
        return rows


def _check_images(x):
    """Validate a symbolic image batch (B, 3, H, W): rank, channels, multiples of 32."""
    x = pt.as_tensor_variable(x)
    if x.type.ndim != 4:
        raise ValueError(f"images must be a 4-D (B, 3, H, W) tensor, got {x.type.ndim}-D")
    _, c, h, w = x.type.shape
    if c is not None and c != 3:
        raise ValueError(f"images must have 3 channels (B, 3, H, W), got shape {x.type.shape}")
    for name, v in (("height", h), ("width", w)):
        if v is not None and v % 32:
            raise ValueError(f"image {name} {v} is not a multiple of 32 (the largest stride)")
    if x.type.dtype != "float32":
        raise TypeError(f"images must be float32, got {x.type.dtype}")
    return x


def build_yolo11(scale: str = "n", nc: int = 80, seed: int | None = 0, init: bool = True,
                 cls_hidden: int | None = None) -> YOLO11:
    """A YOLO11 model of ``scale`` (n/s/m/l/x) for ``nc`` classes, initialised like Ultralytics.

    ``cls_hidden`` overrides the width c3 of the Detect class branch (default Ultralytics'
    max(ch_P3, min(nc, 100))): to start an nc=2 model from an 80-class checkpoint keep the
    checkpoint's width (80 for n) -- :func:`yolo_lib.weights.model_from_state_dict` does that.
    ``seed`` seeds the numpy generator of the conv weights (PyTorch's own random stream cannot
    be reproduced; import Ultralytics weights with :mod:`yolo_lib.weights` for exact numbers).
    ``init=False`` skips the random draw (parameters stay 0, BN weights/var 1) for counting.
    """
    model = YOLO11(scale, nc, cls_hidden)
    if init:
        model.reset_parameters(np.random.default_rng(seed))
    return model
