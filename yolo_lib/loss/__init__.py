"""The YOLO11 detection loss in PyTensor: anchors, box algebra, task-aligned assignment, targets, loss.

Public API: :func:`detection_loss` (symbolic loss on raw head outputs), :func:`target_variables`,
:func:`from_rows` / :func:`from_image_lists` (dense targets), :func:`assign`, :func:`make_anchors`.
"""

from yolo_lib.geometry import grid_shapes, make_anchors
from .assigner import Assignment, assign
from .detection_loss import DetectionLoss, LossGains, detection_loss, target_variables
from .targets import DenseTargets, from_image_lists, from_rows

__all__ = [
    "Assignment", "DenseTargets", "DetectionLoss", "LossGains", "assign", "detection_loss",
    "from_image_lists", "from_rows", "grid_shapes", "make_anchors", "target_variables",
]
