"""Export a YOLO11 model (yolo_lib.model) to ONNX in Ultralytics' layout, and measure parity.

The exported graph has one input ``images`` (B, 3, H, W) float32 in [0, 1] with a dynamic batch
axis and one output ``output0`` (B, 4+nc, A): cx, cy, w, h in input pixels, then sigmoid class
scores, anchors P3, P4, P5 row-major (A = 2100 at 320x320), exactly as Ultralytics' export.
BatchNorm is folded into the convolutions and the DFL softmax runs over the last axis.
Metadata follows Ultralytics' keys (``names``, ``stride``, ``imgsz``, ``task``...) plus
``strides`` (all three) so Ultralytics-style tooling can read it.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

import numpy as np
import onnx
import pytensor
import pytensor.tensor as pt

import yolo_lib
from yolo_lib.compilation import modes
from yolo_lib.export import export_graph
from yolo_lib.task import IMGSZ

INPUT_NAME, OUTPUT_NAME = "images", "output0"


def image_size(imgsz) -> tuple[int, int]:
    """``320`` or ``(h, w)`` -> (h, w), both positive multiples of 32."""
    hw = (imgsz, imgsz) if np.isscalar(imgsz) else tuple(imgsz)
    if len(hw) != 2 or any(int(v) != v or v <= 0 or v % 32 for v in hw):
        raise ValueError(f"imgsz must be a positive multiple of 32 or a pair of them, got {imgsz!r}")
    return int(hw[0]), int(hw[1])


def class_names(model, names=None) -> dict[int, str]:
    """{index: name} for the model's classes; defaults to the index as a string (as Ultralytics)."""
    if names is None:
        return {i: str(i) for i in range(model.nc)}
    names = dict(enumerate(names)) if not isinstance(names, dict) else dict(names)
    if sorted(names) != list(range(model.nc)):
        raise ValueError(f"names must give exactly the model's {model.nc} classes, got {names!r}")
    return {int(k): str(v) for k, v in names.items()}


def yolo_metadata(model, imgsz, names=None, opset: int = 18) -> dict[str, str]:
    """Ultralytics-style metadata_props (values are Python literals as strings)."""
    h, w = image_size(imgsz)
    return {
        "description": f"yolo_lib YOLO11{model.scale} exported from PyTensor",
        "author": "yolo_lib",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": yolo_lib.__version__,
        "task": "detect",
        "head": "Detect",
        "stride": str(max(model.strides)),
        "strides": str(list(model.strides)),
        "reg_max": str(model.reg_max),
        "batch": "1",
        "imgsz": str([h, w]),
        "names": str(class_names(model, names)),
        "channels": "3",
        "end2end": "False",
    }


def export_yolo(model, imgsz=IMGSZ, opset: int = 18, names=None, dynamic_size: bool = False) -> onnx.ModelProto:
    """ONNX ModelProto of ``model``'s eval-mode inference at ``imgsz`` with a dynamic batch axis.

    With ``dynamic_size`` the image height and width are dynamic too (any multiple of 32; the
    anchor grid is then computed in the graph, which costs some nodes); ``imgsz`` is only
    recorded in the metadata as the nominal size.
    """
    h, w = image_size(imgsz)
    shape = (None, 3, None, None) if dynamic_size else (None, 3, h, w)
    x = pt.tensor4(INPUT_NAME, shape=shape, dtype="float32")
    in_axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    out_axes = {0: "batch", 2: "anchors"} if dynamic_size else {0: "batch"}
    metadata = yolo_metadata(model, (h, w), names, opset)
    metadata["args"] = str({"batch": 1, "dynamic": True, "dynamic_size": dynamic_size, "opset": opset, "nms": False})
    return export_graph(
        [x], [model.inference(x)], [INPUT_NAME], [OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: in_axes, OUTPUT_NAME: out_axes}, opset=opset, metadata=metadata,
    )


@lru_cache(maxsize=4)
def pytensor_eval_function(model, imgsz=IMGSZ):
    """PyTensor's own evaluation of ``model``'s eval-mode inference: images -> (B, 4+nc, A).

    The parity reference for the exporter, so it runs the very graph that was exported:
    no graph rewriting (``optimizer=None``) and the Python linker (every Op's numpy
    ``perform``). Compiling is instant; a 320x320 image takes seconds. Cached per model/size.
    """
    h, w = image_size(imgsz)
    x = pt.tensor4(INPUT_NAME, shape=(None, 3, h, w), dtype="float32")
    return pytensor.function([x], model.inference(x), mode=modes.export_reference())


def onnx_session(onnx_model, threads: int | None = None, spinning: bool = True):
    """A CPU onnxruntime session for a ModelProto or a path.

    ``spinning=False``: idle intra-op threads sleep instead of busy-waiting for the next
    operator (better when other threads or processes share the cores).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    src = onnx_model.SerializeToString() if isinstance(onnx_model, onnx.ModelProto) else str(onnx_model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def compare_outputs(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Parity figures of an inference output (B, 4+nc, A) against a reference.

    ``max_rel`` = max |diff| / max |ref| (the fixtures' definition); boxes in pixels and
    scores separately, as the fixture tolerances are written (2e-3 px, 1e-5).
    """
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"output shape {got.shape} differs from the reference's {ref.shape}")
    diff = np.abs(got - ref)
    return {
        "max_abs": float(diff.max()),
        "max_rel": float(diff.max() / max(np.abs(ref).max(), 1e-30)),
        "box_max_abs_px": float(diff[:, :4].max()),
        "score_max_abs": float(diff[:, 4:].max()),
    }
