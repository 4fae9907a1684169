"""An offline synthetic detection set in COCO format: person-like figures and phone-like slabs.

Same two categories as the COCO subset (``person`` id 1, ``cell phone`` id 77), so the identical
pipeline (subset -> cache -> augmentation -> loader) runs without any download. Objects are
learnable but varied:

* person: a tall figure (head disc, torso, two legs, two arms), height 25-90 % of the image,
  width about 0.3-0.5 of its height, random clothing and skin colours;
* cell phone: a small rounded slab (dark screen in a coloured frame), 10-60 px on its long side,
  portrait or landscape; sometimes held near a person's hand.

Backgrounds are random vertical gradients with a horizon line, mild noise and unlabelled
distractors (discs, wide blocks). Image sizes vary
(long side 320-640). Everything is drawn with Pillow from one seed, so a set is reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from yolo_lib.files import build_folder_atomically
from yolo_lib.task import CLASS_NAMES, COCO_CATEGORIES

CATEGORIES = [{"id": COCO_CATEGORIES[n][0], "name": n, "supercategory": COCO_CATEGORIES[n][1]} for n in CLASS_NAMES]


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes of a synthetic set: image counts per split and the long-side range in pixels."""

    n_train: int = 256
    n_val: int = 64
    min_side: int = 320
    max_side: int = 640
    seed: int = 0


def _colour(rng, lo=0, hi=256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _background(rng, w: int, h: int) -> Image.Image:
    top, bottom = np.array(_colour(rng, 40, 230), np.float32), np.array(_colour(rng, 30, 200), np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + bottom * t + rng.normal(0, 6, (h, 1, 3)).astype(np.float32)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    horizon = int(rng.integers(h // 3, h - h // 6))
    img[horizon:] = img[horizon:] * 0.75 + np.array(_colour(rng, 30, 160), np.float32) * 0.25
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _draw_person(draw: ImageDraw.ImageDraw, rng, w: int, h: int) -> tuple[list[float], tuple[float, float]]:
    ph = float(rng.uniform(0.25, 0.9)) * h
    pw = ph * float(rng.uniform(0.3, 0.5))
    x0 = float(rng.uniform(0, max(w - pw, 1)))
    y0 = float(rng.uniform(0, max(h - ph, 1)))
    skin, shirt, trousers = _colour(rng, 90, 256), _colour(rng), _colour(rng, 0, 180)
    head = ph * 0.15
    cx = x0 + pw / 2
    draw.ellipse([cx - head / 2, y0, cx + head / 2, y0 + head], fill=skin)
    torso_w = pw * 0.6
    draw.rectangle([cx - torso_w / 2, y0 + head, cx + torso_w / 2, y0 + ph * 0.55], fill=shirt)
    leg_w = torso_w * 0.42
    draw.rectangle([cx - torso_w / 2, y0 + ph * 0.55, cx - torso_w / 2 + leg_w, y0 + ph], fill=trousers)
    draw.rectangle([cx + torso_w / 2 - leg_w, y0 + ph * 0.55, cx + torso_w / 2, y0 + ph], fill=trousers)
    arm_w = (pw - torso_w) / 2
    draw.rectangle([x0, y0 + head * 1.1, x0 + arm_w, y0 + ph * 0.5], fill=shirt)
    draw.rectangle([x0 + pw - arm_w, y0 + head * 1.1, x0 + pw, y0 + ph * 0.5], fill=shirt)
    hand = (x0 + pw, y0 + ph * 0.5)
    return [x0, y0, x0 + pw, y0 + ph], hand


def _draw_phone(draw: ImageDraw.ImageDraw, rng, w: int, h: int, near=None) -> list[float]:
    long_side = float(rng.uniform(10, 60))
    short = long_side * float(rng.uniform(0.45, 0.6))
    bw, bh = (short, long_side) if rng.random() < 0.7 else (long_side, short)
    if near is not None:
        x0, y0 = near[0] - bw * 0.3, near[1] - bh * 0.5
    else:
        x0, y0 = float(rng.uniform(0, max(w - bw, 1))), float(rng.uniform(0, max(h - bh, 1)))
    x0, y0 = min(max(x0, 0.0), w - bw), min(max(y0, 0.0), h - bh)
    frame = _colour(rng, 0, 256)
    draw.rounded_rectangle([x0, y0, x0 + bw, y0 + bh], radius=max(1.0, short * 0.15), fill=frame)
    m = max(1.0, short * 0.1)
    screen = _colour(rng, 0, 60) if rng.random() < 0.7 else _colour(rng, 120, 256)
    draw.rectangle([x0 + m, y0 + m, x0 + bw - m, y0 + bh - m], fill=screen)
    return [x0, y0, x0 + bw, y0 + bh]


def draw_image(rng, width: int, height: int) -> tuple[Image.Image, list[tuple[int, list[float]]]]:
    """One synthetic RGB image and its ``(category_id, [x1, y1, x2, y2])`` objects (>= 1)."""
    img = _background(rng, width, height)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 4))):  # unlabelled distractors: discs and wide blocks
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(8, 0.15 * min(width, height))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([cx - 1.6 * r, cy - r * 0.5, cx + 1.6 * r, cy + r * 0.5] if shape == draw.rectangle
              else [cx - r, cy - r, cx + r, cy + r], fill=_colour(rng))
    objects: list[tuple[int, list[float]]] = []
    hands = []
    for _ in range(int(rng.integers(0, 4))):
        box, hand = _draw_person(draw, rng, width, height)
        objects.append((1, box))
        hands.append(hand)
    n_phones = int(rng.integers(0, 3))
    if not objects and n_phones == 0:
        n_phones = 1
    for _ in range(n_phones):
        near = hands[int(rng.integers(len(hands)))] if hands and rng.random() < 0.5 else None
        objects.append((77, _draw_phone(draw, rng, width, height, near)))
    return img, objects


def write_synthetic(root: str | Path, spec: SyntheticSpec = SyntheticSpec(), progress: bool = True) -> dict:
    """Write ``root/{train,val}/*.jpg`` and ``root/instances_{train,val}.json``; returns a summary.

    Later objects may overlap earlier ones (occlusion); a box keeps its full extent, as in COCO.
    """
    root = Path(root)
    summary = {"root": str(root), "splits": {}, "skipped": []}
    for split, n, seed_offset in (("train", spec.n_train, 0), ("val", spec.n_val, 1)):
        if n < 0:
            raise ValueError(f"image count for {split} must be >= 0, got {n}")
        rng = np.random.default_rng([spec.seed, seed_offset])
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        counts = {c["name"]: 0 for c in CATEGORIES}
        names = {c["id"]: c["name"] for c in CATEGORIES}
        for i in tqdm(range(n), desc=f"synthetic {split}", unit="img", disable=not progress):
            long_side = int(rng.integers(spec.min_side, spec.max_side + 1))
            aspect = float(rng.uniform(0.6, 1.0))
            w, h = (long_side, int(long_side * aspect)) if rng.random() < 0.7 else (int(long_side * aspect), long_side)
            img, objects = draw_image(rng, w, h)
            file_name = f"{i:06d}.jpg"
            img.save(folder / file_name, quality=90)
            image_id = i + 1
            images.append({"id": image_id, "file_name": file_name, "width": w, "height": h, "coco_url": ""})
            for cat, (x1, y1, x2, y2) in objects:
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id, "category_id": cat, "iscrowd": 0,
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "area": round((x2 - x1) * (y2 - y1), 2),
                })
                counts[names[cat]] += 1
        data = {"info": {"description": "yolo_lib synthetic set", "seed": spec.seed}, "licenses": [],
                "categories": CATEGORIES, "images": images, "annotations": annotations}
        (root / f"instances_{split}.json").write_text(json.dumps(data))
        summary["splits"][split] = {"images": n, "boxes_per_class": counts}
    (root / "spec.json").write_text(json.dumps(spec.__dict__))
    return summary


def ensure_synthetic(root: str | Path, spec: SyntheticSpec | None = None, progress: bool = True) -> Path:
    """Generate the synthetic set under ``root`` unless it is there already (atomically: see
    :mod:`yolo_lib.files`).

    With ``spec=None`` any complete set in ``root`` is used (the default spec is generated when
    there is none); with a spec, a set written with another spec is regenerated.
    """
    def is_wanted(folder: Path) -> bool:
        marker = folder / "spec.json"  # written last: its presence marks a complete set
        return marker.exists() and (spec is None or json.loads(marker.read_text()) == spec.__dict__)

    return build_folder_atomically(root, lambda folder: write_synthetic(folder, spec or SyntheticSpec(), progress),
                                   is_wanted)
