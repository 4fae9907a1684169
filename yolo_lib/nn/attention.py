"""Position-sensitive attention of YOLO11: ``Attention``, ``PSABlock``, ``C2PSA``. NCHW."""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.tensor.special import softmax

from yolo_lib.nn.conv import Conv
from yolo_lib.geometry import dims
from yolo_lib.nn.module import Module, Sequential


class Attention(Module):
    """Multi-head self-attention over the H*W positions, with a depthwise positional conv.

    dim channels, ``num_heads`` heads of head_dim = dim/heads; key_dim = head_dim*attn_ratio.
    ``qkv``: 1x1 Conv (no act) dim → dim + 2*heads*key_dim, viewed as (B, heads,
    2*key_dim + head_dim, N) and split per head into q | k | v. attn = softmax over the last
    axis of (q^T k) * key_dim^-0.5, shape (B, heads, N, N). o = (v attn^T) as (B, dim, H, W)
    plus ``pe``(v) (depthwise 3x3 Conv, no act); out = ``proj``(o) (1x1 Conv, no act).
    (B, dim, H, W) → (B, dim, H, W).
    """

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5):
        super().__init__()
        self.dim, self.num_heads = dim, num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim ** -0.5
        h = dim + 2 * self.key_dim * num_heads
        self.qkv = self.add_module("qkv", Conv(dim, h, 1, act=False))
        self.proj = self.add_module("proj", Conv(dim, dim, 1, act=False))
        self.pe = self.add_module("pe", Conv(dim, dim, 3, 1, g=dim, act=False))

    def scores(self, x, ctx):
        """Attention weights (B, heads, N, N) and values v (B, heads, head_dim, N), N = H*W."""
        b, _, h, w = dims(x)
        qkv = self.qkv(x, ctx).reshape((b, self.num_heads, 2 * self.key_dim + self.head_dim, h * w))
        q = qkv[:, :, : self.key_dim]
        k = qkv[:, :, self.key_dim : 2 * self.key_dim]
        v = qkv[:, :, 2 * self.key_dim :]
        logits = pt.matmul(q.transpose(0, 1, 3, 2), k) * pt.constant(self.scale, dtype="float32")
        return softmax(logits, axis=-1), v

    def forward(self, x, ctx):
        attn, v = self.scores(x, ctx)
        b, _, h, w = dims(x)
        shape = (b, self.dim, h, w)
        o = pt.matmul(v, attn.transpose(0, 1, 3, 2)).reshape(shape)
        o = o + self.pe(v.reshape(shape), ctx)
        return self.proj(o, ctx)


class PSABlock(Module):
    """x + Attention(x), then x + FFN(x); FFN = Conv 1x1 c → 2c (SiLU), Conv 1x1 2c → c (no act).

    Children ``attn``, ``ffn`` (``ffn.0``, ``ffn.1``). (B, c, H, W) → (B, c, H, W).
    """

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True):
        super().__init__()
        self.attn = self.add_module("attn", Attention(c, num_heads=num_heads, attn_ratio=attn_ratio))
        self.ffn = self.add_module("ffn", Sequential(Conv(c, 2 * c, 1), Conv(2 * c, c, 1, act=False)))
        self.shortcut = shortcut

    def forward(self, x, ctx):
        x = x + self.attn(x, ctx) if self.shortcut else self.attn(x, ctx)
        return x + self.ffn(x, ctx) if self.shortcut else self.ffn(x, ctx)


class C2PSA(Module):
    """cv1 1x1 c1 → 2c (c = c1*e) split into a, b; b through n PSABlocks (heads = c/64);
    cv2 1x1 2c → c1 over cat(a, b). Requires c1 == c2. (B, c1, H, W) → (B, c1, H, W)."""

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA needs c1 == c2, got {c1} and {c2}")
        self.c = c = int(c1 * e)
        self.cv1 = self.add_module("cv1", Conv(c1, 2 * c, 1))
        self.cv2 = self.add_module("cv2", Conv(2 * c, c1, 1))
        self.m = self.add_module("m", Sequential(*(PSABlock(c, 0.5, num_heads=c // 64) for _ in range(n))))

    def forward(self, x, ctx):
        y = self.cv1(x, ctx)
        a, b = y[:, : self.c], y[:, self.c :]
        return self.cv2(pt.concatenate([a, self.m(b, ctx)], axis=1), ctx)
