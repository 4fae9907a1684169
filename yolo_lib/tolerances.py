"""Every parity tolerance of the project, in one table (``shared/fixtures/README.md``, float32 on a CPU).

Used by the parity checks against Ultralytics (:mod:`yolo_lib.parity`) and by the ONNX
exporter's report (:mod:`yolo_lib.export.report`: onnxruntime against PyTensor).
"""

TOL_ACTIVATION = 1e-4  # layers, raw head outputs, BN statistics: max|diff| <= 1e-4 * max|reference|
TOL_BOX_PX = 2e-3  # decoded boxes and assigned target boxes, pixels (absolute)
TOL_SCORE = 1e-5  # decoded sigmoid class scores (absolute)
TOL_TARGET_SCORE = 1e-4  # assigner target scores (absolute)
TOL_LOSS = 1e-4  # loss items and total, relative
TOL_GRAD = 1e-3  # gradient of each parameter, relative norm
GRAD_ZERO_FLOOR = 1e-6  # gradients below this fraction of the global gradient norm count as zero
