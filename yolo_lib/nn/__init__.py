"""YOLO11 building blocks on top of :mod:`yolo_lib.ops` (NCHW, float32, Ultralytics names)."""

from yolo_lib.nn.attention import C2PSA, Attention, PSABlock
from yolo_lib.nn.conv import Conv, Conv2d, DWConv
from yolo_lib.nn.csp import C3k, C3k2, Bottleneck
from yolo_lib.nn.dfl import decode, dist2bbox_xywh
from yolo_lib.nn.head import Detect
from yolo_lib.nn.module import BN_EPS, BN_MOMENTUM, ForwardContext, Module, Sequential
from yolo_lib.nn.routing import Concat, Upsample
from yolo_lib.nn.sppf import SPPF

__all__ = [
    "Attention", "BN_EPS", "BN_MOMENTUM", "Bottleneck", "C2PSA", "C3k", "C3k2", "Concat", "Conv",
    "Conv2d", "DWConv", "Detect", "ForwardContext", "Module", "PSABlock", "SPPF", "Sequential",
    "Upsample", "decode", "dist2bbox_xywh",
]
