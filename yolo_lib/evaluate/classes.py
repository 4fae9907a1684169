"""Match the model's classes to the annotation categories by name (never by position).

The model's class ``i`` is scored against the COCO category whose ``name`` equals the model's
name for class ``i``. Classes without a partner are reported, never silently renumbered:
detections of a model class the annotations lack are left out, and annotation categories the
model cannot predict are listed with their box counts (they are not in the mean).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


class EvaluationError(ValueError):
    """Bad input to the evaluator; the message is one line meant for the user."""


@dataclass(frozen=True)
class ClassMatch:
    """Model class index -> COCO category id (None when the annotations lack that name)."""

    names: tuple[str, ...]
    category_ids: tuple[int | None, ...]
    #: annotation categories with boxes but no model class: name -> number of boxes
    categories_without_model_class: dict[str, int]

    @property
    def matched(self) -> list[tuple[int, str, int]]:
        """(model class index, name, category id) of every matched class, in model order."""
        return [(i, n, c) for i, (n, c) in enumerate(zip(self.names, self.category_ids)) if c is not None]

    @property
    def model_classes_without_category(self) -> list[str]:
        return [n for n, c in zip(self.names, self.category_ids) if c is None]


def match_classes(names: Sequence[str], categories: Sequence[dict], annotations: Sequence[dict]) -> ClassMatch:
    """Match model class ``names`` (index order) to COCO ``categories`` by exact name."""
    names = tuple(str(n) for n in names)
    if not names:
        raise EvaluationError("the model has no class names")
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise EvaluationError(f"model class names are not unique: {dup}")
    by_name: dict[str, int] = {}
    for c in categories:
        if c["name"] in by_name:
            raise EvaluationError(f"annotation category name {c['name']!r} is used by two category ids")
        by_name[c["name"]] = int(c["id"])
    ids = tuple(by_name.get(n) for n in names)
    if all(i is None for i in ids):
        raise EvaluationError(f"none of the model's classes {list(names)[:10]} is an annotation category "
                              f"{sorted(by_name)[:10]}; pass the right names with --classes")
    boxes = Counter(int(a["category_id"]) for a in annotations)
    used = set(ids)
    missing = {n: boxes[c] for n, c in by_name.items() if c not in used and boxes[c] > 0}
    return ClassMatch(names, ids, missing)
