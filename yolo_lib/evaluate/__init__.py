"""COCO evaluation of a YOLO11 model (or any inference function) on a COCO-format set.

In memory (training scores its model every epoch this way)::

    from yolo_lib.evaluate import Evaluator
    ev = Evaluator(annotations, images, class_names, imgsz=320, batch=16)
    summary = ev.evaluate(model)     # dict: mAP50_95, mAP50, mAP75, AR100, per_class, images, seconds, ...
    ev.save_pictures(out_dir)        # boxes grid, PR curves, confusion matrix of that evaluation

Command line: ``python -m yolo_lib.evaluate WEIGHTS.npz --annotations FILE --images DIR``
(``--help``). Modules: :mod:`.dataset` (json and images), :mod:`.classes` (matching by name),
:mod:`.evaluator` (the pipeline), :mod:`.coco_metrics` (COCOeval and the reported numbers),
:mod:`.pictures`.
"""

from yolo_lib.evaluate.classes import ClassMatch, EvaluationError, match_classes
from yolo_lib.evaluate.coco_metrics import score_detections
from yolo_lib.evaluate.evaluator import Evaluator, detections_to_coco

__all__ = ["ClassMatch", "EvaluationError", "Evaluator", "detections_to_coco", "match_classes", "score_detections"]
