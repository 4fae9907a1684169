"""Convolution blocks: ``Conv`` (conv → BatchNorm → SiLU), ``DWConv`` and the plain biased
1x1 ``Conv2d`` that ends each Detect branch. Tensors are NCHW float32."""

from __future__ import annotations

import math

import numpy as np

from yolo_lib import ops
from yolo_lib.nn.module import BN_EPS, ForwardContext, Module, uniform_fan_in


class Conv(Module):
    """Ultralytics ``Conv``: conv (no bias, padding k//2 on every side) → BN → SiLU.

    Parameters ``conv.weight`` (c2, c1/g, k, k), ``bn.weight`` (c2,), ``bn.bias`` (c2,);
    buffers ``bn.running_mean``, ``bn.running_var`` (c2,).
    Input (B, c1, H, W) → output (B, c2, ceil(H/s), ceil(W/s)) for odd k.
    ``act=False`` drops the SiLU (used by attention's qkv/proj/pe and the FFN's last conv).
    """

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool = True):
        super().__init__()
        if c1 % g or c2 % g:
            raise ValueError(f"Conv: channels {c1}->{c2} are not divisible by groups={g}")
        self.c1, self.c2, self.k, self.s, self.g, self.act = c1, c2, k, s, g, act
        self.weight = self.add_param("conv.weight", (c2, c1 // g, k, k))
        self.gamma = self.add_param("bn.weight", (c2,), 1.0)
        self.beta = self.add_param("bn.bias", (c2,), 0.0)
        self.running_mean = self.add_buffer("bn.running_mean", (c2,), 0.0)
        self.running_var = self.add_buffer("bn.running_var", (c2,), 1.0)

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Conv weight U(±1/sqrt(fan_in)); BN weight 1, bias 0, running mean 0, var 1."""
        fan_in = (self.c1 // self.g) * self.k * self.k
        self.weight.set_value(uniform_fan_in(rng, self.weight.type.shape, fan_in))
        self.gamma.set_value(np.ones(self.c2, np.float32))
        self.beta.set_value(np.zeros(self.c2, np.float32))
        self.running_mean.set_value(np.zeros(self.c2, np.float32))
        self.running_var.set_value(np.ones(self.c2, np.float32))

    def forward(self, x, ctx: ForwardContext):
        y = ops.conv2d(x, self.weight, stride=self.s, padding=self.k // 2, groups=self.g)
        if ctx.train:
            y, mean, var = ops.batch_norm_train(y, self.gamma, self.beta, eps=BN_EPS)
            ctx.updates.extend(
                ops.running_stat_updates(
                    self.running_mean, self.running_var, mean, var, momentum=ctx.momentum
                )
            )
        else:
            y = ops.batch_norm_eval(
                y, self.gamma, self.beta, self.running_mean, self.running_var, eps=BN_EPS
            )
        return ops.silu(y) if self.act else y


class DWConv(Conv):
    """Depthwise ``Conv``: groups = gcd(c1, c2) (= c1 when c1 == c2)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, act: bool = True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), act=act)


class Conv2d(Module):
    """Plain ``nn.Conv2d(c1, c2, k)`` with bias: parameters ``weight`` (c2, c1, k, k), ``bias``.

    The last layer of every Detect branch. Input (B, c1, H, W) → (B, c2, H, W) for k=1.
    """

    def __init__(self, c1: int, c2: int, k: int = 1):
        super().__init__()
        self.c1, self.c2, self.k = c1, c2, k
        self.weight = self.add_param("weight", (c2, c1, k, k))
        self.bias = self.add_param("bias", (c2,))

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Weight and bias U(±1/sqrt(fan_in)) (PyTorch default; Detect overrides the bias)."""
        fan_in = self.c1 * self.k * self.k
        self.weight.set_value(uniform_fan_in(rng, self.weight.type.shape, fan_in))
        self.bias.set_value(uniform_fan_in(rng, (self.c2,), fan_in))

    def forward(self, x, ctx: ForwardContext):
        y = ops.conv2d(x, self.weight, padding=self.k // 2)
        return y + self.bias.dimshuffle("x", 0, "x", "x")
