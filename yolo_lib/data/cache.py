"""Letterbox a COCO-format set once into memory-mappable uint8 arrays plus box tables.

Layout of a cache folder (all written by :func:`build_cache`, ``meta.json`` last, so a folder
without it is an interrupted build):

* ``images.npy``  ``(N, 3, S, S)`` uint8 RGB letterboxed images, planar (CHW: the augmentation
  gathers rows and columns per plane, which is much faster than on HWC); ``np.load(mmap_mode="r")``;
* ``boxes.npy``   ``(K, 4)`` float32 xyxy boxes in letterbox pixels, all images concatenated;
* ``classes.npy`` ``(K,)`` int32 class indices 0..C-1 (in the order of the class list);
* ``offsets.npy`` ``(N + 1,)`` int64: image i owns rows ``offsets[i]:offsets[i+1]``;
* ``content.npy`` ``(N, 4)`` int32 xyxy region of the real image inside the letterbox;
* ``meta.json``   size, class names, source json, image ids/file names, skipped images.

A cache made for another size or class list (or from another annotation file: its SHA-1 is
recorded) is detected on open:
rebuilt when ``rebuild=True``, else refused with a :class:`CacheMismatchError` saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from yolo_lib.files import build_folder_atomically
from yolo_lib.data.coco_subset import image_labels, load_annotations, resolve_categories
from yolo_lib.data.letterbox import boxes_to_letterbox, letterbox_params, paste_letterboxed
from yolo_lib.task import CLASS_NAMES, IMGSZ

FORMAT_VERSION = 1


class CacheMismatchError(ValueError):
    """An existing cache was made for another size, class list or source."""


@dataclass
class CachedDataset:
    """A letterboxed dataset: ``images`` (N, 3, S, S) uint8 memmap plus per-image boxes/classes."""

    root: Path
    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    offsets: np.ndarray
    content: np.ndarray
    meta: dict

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    def __len__(self) -> int:
        return int(self.meta["n_images"])

    def labels(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(k, 4)`` float32 xyxy letterbox pixels and classes ``(k,)`` int32 of image ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.boxes[a:b], self.classes[a:b]

    @property
    def max_boxes_per_image(self) -> int:
        return int(np.diff(self.offsets).max()) if len(self) else 0

    def image_hwc(self, i: int) -> np.ndarray:
        """Image ``i`` as an ``(S, S, 3)`` uint8 array (for display)."""
        return np.ascontiguousarray(self.images[i].transpose(1, 2, 0))

    def summary(self) -> dict:
        counts = np.bincount(self.classes, minlength=len(self.class_names))
        return {
            "cache": str(self.root),
            "images": len(self),
            "size": self.size,
            "boxes_per_class": {n: int(c) for n, c in zip(self.class_names, counts)},
            "max_boxes_per_image": self.max_boxes_per_image,
            "skipped": self.meta.get("skipped", []),
        }


def _expected_meta(annotations: Path, size: int, class_names) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "size": int(size),
        "class_names": list(class_names),
        "source_sha1": hashlib.sha1(annotations.read_bytes()).hexdigest(),
    }


def _mismatch(meta: dict, expected: dict) -> list[str]:
    return [f"{k}: cache has {meta.get(k)!r}, wanted {v!r}" for k, v in expected.items() if meta.get(k) != v]


def open_cache(
    cache_dir: str | Path,
    annotations: str | Path,
    image_dir: str | Path,
    size: int = IMGSZ,
    class_names=CLASS_NAMES,
    rebuild: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> CachedDataset:
    """Open the cache in ``cache_dir`` for (annotations, size, class list), building it if needed.

    A complete cache for other settings is rebuilt when ``rebuild`` is True, otherwise refused
    with :class:`CacheMismatchError`.
    """
    cache_dir, annotations = Path(cache_dir), Path(annotations)
    if not annotations.is_file():
        raise FileNotFoundError(f"annotation file not found: {annotations}")
    expected = _expected_meta(annotations, size, class_names)
    meta_path = cache_dir / "meta.json"
    if meta_path.exists():
        problems = _mismatch(json.loads(meta_path.read_text()), expected)
        if not problems:
            return load_cache(cache_dir)
        if not rebuild:
            raise CacheMismatchError(
                f"cache {cache_dir} was made for other settings ({'; '.join(problems)}); "
                "delete it, choose another cache folder, or pass rebuild=True")
        print(f"cache {cache_dir} is stale ({'; '.join(problems)}): rebuilding")
    return build_cache(cache_dir, annotations, image_dir, size, class_names, workers, progress)


def load_cache(cache_dir: str | Path) -> CachedDataset:
    """Memory-map a complete cache folder (no validation of what it was built for)."""
    root = Path(cache_dir)
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{root} is not a complete cache (no meta.json): build it with open_cache()")
    meta = json.loads(meta_path.read_text())
    n = meta["n_images"]
    images = np.asarray(np.load(root / "images.npy", mmap_mode="r"))[:n]  # plain ndarray view of the map
    arrays = {k: np.load(root / f"{k}.npy") for k in ("boxes", "classes", "offsets", "content")}
    return CachedDataset(root=root, images=images, meta=meta, **arrays)


def _decode(path: Path, record: dict, size: int):
    """Letterboxed uint8 image and params, or (None, reason) when the file is unusable."""
    try:
        with Image.open(path) as im:
            if im.size != (record["width"], record["height"]):
                return None, f"size {im.size[0]}x{im.size[1]} differs from the annotation's {record['width']}x{record['height']}"
            params = letterbox_params(im.width, im.height, size)
            im.draft("RGB", (params.new_w, params.new_h))  # JPEG DCT-domain downscale, >= target size
            rgb = im.convert("RGB")
            return (paste_letterboxed(rgb, params), params), None
    except FileNotFoundError:
        return None, "image file missing"
    except (OSError, SyntaxError, ValueError) as e:
        return None, f"unreadable or corrupt image: {e}"


def build_cache(
    cache_dir: str | Path,
    annotations: str | Path,
    image_dir: str | Path,
    size: int = IMGSZ,
    class_names=CLASS_NAMES,
    workers: int | None = None,
    progress: bool = True,
) -> CachedDataset:
    """Decode, letterbox and store every image of ``annotations`` that has a kept box (unless
    ``cache_dir`` already holds that cache, e.g. built by another process meanwhile).

    Images are read from ``image_dir/<file_name>`` in ``workers`` threads (Pillow releases the
    GIL while decoding). The folder is written beside ``cache_dir`` and moved into place when
    complete (:mod:`yolo_lib.files`): an interruption (Ctrl-C cancels the pending decodes
    without waiting) leaves nothing behind, and processes building the same cache at once never
    read each other's half-written files. Unreadable, corrupt or mis-sized images are skipped and
    listed in ``meta["skipped"]`` with their reason.
    """
    cache_dir, annotations, image_dir = Path(cache_dir), Path(annotations), Path(image_dir)
    expected = _expected_meta(annotations, size, class_names)

    def is_wanted(folder: Path) -> bool:
        meta_path = folder / "meta.json"  # written last: its presence marks a complete cache
        return meta_path.exists() and not _mismatch(json.loads(meta_path.read_text()), expected)

    def write(folder: Path) -> None:
        _write_cache(folder, annotations, image_dir, size, class_names, workers, progress)

    return load_cache(build_folder_atomically(cache_dir, write, is_wanted))


def _write_cache(cache_dir: Path, annotations: Path, image_dir: Path, size: int, class_names,
                 workers: int | None, progress: bool) -> None:
    """Write a complete cache folder (see :func:`build_cache`); ``meta.json`` last."""
    coco = load_annotations(annotations)
    cat_ids = resolve_categories(coco, class_names)
    records, labels, skipped = [], [], []
    for iid in sorted(coco.imgs):
        lab = image_labels(coco, iid, cat_ids)
        if len(lab.classes):
            records.append(coco.imgs[iid])
            labels.append(lab)
    cache_dir.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(cache_dir / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(max(len(records), 1), 3, size, size))
    boxes, classes, offsets, content, ids, names = [], [], [0], [], [], []
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        results = pool.map(lambda r: _decode(image_dir / r["file_name"], r, size), records)
        bar = tqdm(zip(records, labels, results), total=len(records), desc=f"cache {cache_dir.name}",
                   unit="img", disable=not progress)
        for rec, lab, (ok, reason) in bar:
            if ok is None:
                skipped.append({"file_name": rec["file_name"], "reason": reason})
                continue
            img, params = ok
            images[len(ids)] = img.transpose(2, 0, 1)
            boxes.append(boxes_to_letterbox(lab.boxes, params))
            classes.append(lab.classes)
            offsets.append(offsets[-1] + len(lab.classes))
            content.append(params.content)
            ids.append(int(rec["id"]))
            names.append(rec["file_name"])
    except BaseException:  # Ctrl-C: stop decoding now; build_cache removes the unfinished folder
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    images.flush()
    del images
    np.save(cache_dir / "boxes.npy", np.concatenate(boxes or [np.zeros((0, 4), np.float32)]).astype(np.float32))
    np.save(cache_dir / "classes.npy", np.concatenate(classes or [np.zeros(0, np.int32)]).astype(np.int32))
    np.save(cache_dir / "offsets.npy", np.asarray(offsets, np.int64))
    np.save(cache_dir / "content.npy", np.asarray(content, np.int32).reshape(-1, 4))
    meta = {**_expected_meta(annotations, size, class_names), "source": str(annotations), "n_images": len(ids),
            "image_ids": ids, "file_names": names, "skipped": skipped}
    (cache_dir / "meta.json").write_text(json.dumps(meta))
