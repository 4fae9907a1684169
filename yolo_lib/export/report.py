"""Figures about an exported model: op histogram, size, parity against PyTensor and a reference."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from yolo_lib.export.yolo import INPUT_NAME, compare_outputs, onnx_session, pytensor_eval_function

#: Fixture tolerances (../shared/fixtures/README.md) and the exporter's own target.
BOX_TOL_PX, SCORE_TOL, PYTENSOR_REL_TOL = 2e-3, 1e-5, 1e-4


def op_histogram(model: onnx.ModelProto | str | Path) -> dict[str, int]:
    """Node count per ONNX op type, most frequent first."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    return dict(Counter(n.op_type for n in model.graph.node).most_common())


def onnx_output(onnx_model, images: np.ndarray) -> np.ndarray:
    """Run an exported detector on images (B, 3, H, W) float32 with onnxruntime (CPU)."""
    return onnx_session(onnx_model).run(None, {INPUT_NAME: np.ascontiguousarray(images, np.float32)})[0]


def parity_vs_pytensor(onnx_model, model, images: np.ndarray) -> dict:
    """onnxruntime vs PyTensor's evaluation of the same model on ``images``."""
    figures = compare_outputs(onnx_output(onnx_model, images), pytensor_eval_function(model, images.shape[2:])(images))
    figures["ok"] = figures["max_rel"] <= PYTENSOR_REL_TOL
    figures["batch"] = int(images.shape[0])
    return figures


def parity_vs_reference(onnx_model, images: np.ndarray, reference: np.ndarray) -> dict:
    """onnxruntime vs a reference inference output (e.g. the fixture's ``eval/inference_out``)."""
    figures = compare_outputs(onnx_output(onnx_model, images), reference)
    figures["ok"] = figures["box_max_abs_px"] <= BOX_TOL_PX and figures["score_max_abs"] <= SCORE_TOL
    return figures


def summary(onnx_model: onnx.ModelProto, path: str | Path | None = None) -> dict:
    """Opset, node count (total and per op), inputs/outputs, file size when saved."""
    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    out = {
        "opset": next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")),
        "nodes": len(onnx_model.graph.node),
        "nodes_by_op": op_histogram(onnx_model),
        "inputs": {v.name: dims(v) for v in onnx_model.graph.input},
        "outputs": {v.name: dims(v) for v in onnx_model.graph.output},
        "metadata": {p.key: p.value for p in onnx_model.metadata_props},
    }
    if path is not None:
        out["file"] = str(path)
        out["file_size_bytes"] = Path(path).stat().st_size
    return out
