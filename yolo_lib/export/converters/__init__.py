"""ONNX converters, one module per family of Ops; importing this package registers them all."""

from yolo_lib.export.converters import creation, elemwise, math, nn, shape  # noqa: F401  (registration)
