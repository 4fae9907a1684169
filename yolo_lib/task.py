"""What the workshop's detector detects, and at which size: the one place for these constants.

The workshop trains YOLO11n on two COCO classes, ``person`` and ``cell phone``, at 320 px.
Everything that needs them (the data builder, the synthetic set, the training recipe, the
class-row selection from an 80-class checkpoint, the evaluator, the exporter, the demo) takes
them from here; a different task is a different set of values here (or options of the
commands), not edits in several modules.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The model's classes, in class-index order.
CLASS_NAMES: tuple[str, ...] = ("person", "cell phone")
#: Square input size in pixels (training, validation, export, the browser demo); a multiple of 32.
IMGSZ = 320
#: Class row of each name in an 80-class COCO head (Ultralytics' ``yolo11n.pt``).
COCO80_ROWS = {"person": 0, "cell phone": 67}
#: Category id and supercategory of each name in COCO's annotation files.
COCO_CATEGORIES = {"person": (1, "person"), "cell phone": (77, "electronic")}


def coco80_rows(names: Sequence[str] = CLASS_NAMES) -> list[int]:
    """The 80-class COCO rows of ``names`` (in that order); ValueError naming the unknown ones."""
    unknown = [n for n in names if n not in COCO80_ROWS]
    if unknown:
        raise ValueError(f"classes {unknown} have no known row in an 80-class COCO head; known: {sorted(COCO80_ROWS)}")
    return [COCO80_ROWS[n] for n in names]
