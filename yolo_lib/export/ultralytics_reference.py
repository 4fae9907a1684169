"""Ultralytics' own ONNX export of the reference weights: what notebook 11 puts our export beside.

* With the shared fixture (320 px): ``shared/fixtures/ultralytics_yolo11n_nc2_320.onnx``, the
  file Ultralytics wrote.
* With the compact reference (128 px, a fresh clone):
  ``yolo_lib/weights/reference_data/ultralytics_onnx_nc2_128.npz``, written by
  ``scripts/make_reference.py --ultralytics-onnx``. It holds the graph Ultralytics exported
  (opset 18, BN folded, onnxslim) without its weights, and the outputs that file gave on the
  reference images. :func:`load` puts the weights back from the compact reference's seeded state
  dict, folding each BatchNorm into its Conv as Ultralytics' ``fuse_conv_and_bn`` does, and
  refuses the result unless it reproduces those outputs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from yolo_lib.export.report import BOX_TOL_PX, SCORE_TOL, onnx_output
from yolo_lib.export.yolo import compare_outputs
from yolo_lib.nn.module import BN_EPS
from yolo_lib.paths import fixture_path
from yolo_lib.weights.reference import COMPACT_PATH as COMPACT_REFERENCE, Reference, ReferenceMissingError

FULL_NAME = "ultralytics_yolo11n_nc2_320.onnx"
COMPACT_PATH = COMPACT_REFERENCE.with_name("ultralytics_onnx_nc2_128.npz")  # beside the compact reference


def folded_state_dict(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights under the names of Ultralytics' ONNX file: every ``X.bn`` folded into ``X.conv``
    (``X.conv.weight`` scaled per output channel by gamma / sqrt(var + eps), a new ``X.conv.bias``
    = beta - gamma * mean / sqrt(var + eps)), float32 in the order torch computes it."""
    eps = np.float32(BN_EPS)
    folded = {k: v for k, v in sd.items() if ".bn." not in k}
    for key in (k for k in sd if k.endswith(".bn.running_mean")):
        stem = key[: -len("bn.running_mean")]
        gamma, beta, mean = sd[stem + "bn.weight"], sd[stem + "bn.bias"], sd[stem + "bn.running_mean"]
        root = np.sqrt(sd[stem + "bn.running_var"] + eps)
        folded[stem + "conv.weight"] = sd[stem + "conv.weight"] * (gamma / root)[:, None, None, None]
        folded[stem + "conv.bias"] = beta - gamma * mean / root
    return folded


def load(ref: Reference) -> onnx.ModelProto:
    """Ultralytics' ONNX export of ``ref``'s weights (input ``images`` (1, 3, H, W), output
    ``output0`` (1, 4+nc, A)). Raises :class:`ReferenceMissingError` when the file is absent and
    ``ValueError`` when the refilled graph does not give Ultralytics' outputs."""
    if not ref.compact:
        path = fixture_path(FULL_NAME)
        if path is None:
            raise ReferenceMissingError(f"shared/fixtures/{FULL_NAME} is missing")
        return onnx.load(str(path))
    if not COMPACT_PATH.exists():
        raise ReferenceMissingError(f"{COMPACT_PATH} is missing")
    with np.load(COMPACT_PATH) as z:
        graph, want, names = z["graph"], z["output"], [str(n) for n in z["meta/stripped_initializers"]]
        digest = str(z["meta/state_dict_sha256"])
    if digest != str(ref["meta/state_dict_sha256"]):
        raise ValueError(f"{COMPACT_PATH.name} was exported from other weights than {ref.path.name} "
                         "(rewrite both with scripts/make_reference.py)")
    model = onnx.ModelProto.FromString(graph.tobytes())
    weights = folded_state_dict(ref.state_dict())
    model.graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(weights[n], np.float32), n)
                                   for n in names)
    images = ref["input/img"]
    got = np.concatenate([onnx_output(model, images[i:i + 1]) for i in range(len(images))])
    figures = compare_outputs(got, want)
    if figures["box_max_abs_px"] > BOX_TOL_PX or figures["score_max_abs"] > SCORE_TOL:
        raise ValueError(f"Ultralytics' graph refilled from the seeded weights differs from Ultralytics' own "
                         f"outputs (boxes {figures['box_max_abs_px']:.2e} px, scores {figures['score_max_abs']:.2e})")
    return model


def outputs(ref: Reference) -> np.ndarray | None:
    """The outputs (B, 4+nc, A) Ultralytics' ONNX file gave on ``ref["input/img"]`` when they are
    stored (the compact reference), else None (run :func:`load`'s model instead)."""
    if not ref.compact:
        return None
    with np.load(COMPACT_PATH) as z:
        return z["output"]
