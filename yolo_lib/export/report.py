"""Figures about an exported model: op histogram, size, parity against PyTensor and a reference."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from yolo_lib.export.yolo import INPUT_NAME, compare_outputs, onnx_session, pytensor_eval_function
from yolo_lib.tolerances import TOL_BOX_PX, TOL_SCORE

#: Fixture tolerances (../shared/fixtures/README.md): decoded boxes in pixels, scores absolute.
#: The same two bounds judge onnxruntime against PyTensor (both float32 on a CPU): boxes and
#: scores are judged separately, so an export whose class scores are wrong fails even though a
#: relative metric dominated by box coordinates (hundreds of pixels) would hide it.
BOX_TOL_PX, SCORE_TOL = TOL_BOX_PX, TOL_SCORE


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
    figures = judged(compare_outputs(onnx_output(onnx_model, images),
                                     pytensor_eval_function(model, images.shape[2:])(images)))
    figures["batch"] = int(images.shape[0])
    return figures


def parity_vs_reference(onnx_model, images: np.ndarray, reference: np.ndarray) -> dict:
    """onnxruntime vs a reference inference output (e.g. the fixture's ``eval/inference_out``)."""
    return judged(compare_outputs(onnx_output(onnx_model, images), reference))


def judged(figures: dict) -> dict:
    """Add the verdicts to :func:`~yolo_lib.export.yolo.compare_outputs` figures: ``box_ok``
    (``box_max_abs_px <= BOX_TOL_PX``), ``score_ok`` (``score_max_abs <= SCORE_TOL``), the
    tolerances, and ``ok`` = both. ``max_rel`` stays as information only."""
    figures["box_tol_px"], figures["score_tol"] = BOX_TOL_PX, SCORE_TOL
    figures["box_ok"] = figures["box_max_abs_px"] <= BOX_TOL_PX
    figures["score_ok"] = figures["score_max_abs"] <= SCORE_TOL
    figures["ok"] = figures["box_ok"] and figures["score_ok"]
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
