"""End-to-end preparation: COCO subset (select -> download) and the synthetic set, then the cache.

Folder layout under :func:`yolo_lib.paths.data_dir` (see ``data/README.md``)::

    coco/annotations/instances_{train,val}2017.json     full COCO annotations (downloaded once)
    coco/annotations/subset_{train,val}2017.json         the selected subset (COCO format)
    coco/images/{train2017,val2017}/                     only the subset's images
    synthetic/{train,val}/ + instances_{train,val}.json   the offline synthetic set
    cache/<name>_<split>_<size>/                          letterboxed arrays (see cache.py)
"""

from __future__ import annotations

from pathlib import Path

from yolo_lib.data.cache import CachedDataset, open_cache
from yolo_lib.data.coco_subset import load_annotations, select_images, write_subset_json
from yolo_lib.data.download import fetch_annotations, fetch_images
from yolo_lib.data.synthetic import SyntheticSpec, ensure_synthetic
from yolo_lib.paths import data_dir
from yolo_lib.task import CLASS_NAMES, IMGSZ

COCO_SPLITS = {"train": "train2017", "val": "val2017"}
DEFAULT_COUNTS = {"train": 12000, "val": 2000}  # the workshop plan's subset sizes


def coco_root(root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else data_dir() / "coco"


def build_coco_subset(
    split: str = "train",
    n_images: int | None = None,
    class_names=CLASS_NAMES,
    seed: int = 0,
    annotations: str | Path | None = None,
    image_source=None,
    root: str | Path | None = None,
    workers: int = 16,
    progress: bool = True,
    timeout: float = 60.0,
) -> dict:
    """Select a subset of one COCO split and fetch just its images; returns a JSON-able summary.

    ``n_images``: None = the plan's default (12,000 train, 2,000 val), 0 = every eligible image.
    ``annotations``: an instances json (default: ``<root>/annotations/instances_<split>2017.json``,
    downloaded with the official archive when missing). ``image_source``: None (each image's
    ``coco_url``), a base URL, a folder or a zip (see :func:`fetch_images`). ``timeout``: seconds a
    download may wait for data before that attempt fails.
    """
    if split not in COCO_SPLITS:
        raise ValueError(f"split must be one of {sorted(COCO_SPLITS)}, got {split!r}")
    coco_split = COCO_SPLITS[split]
    root = coco_root(root)
    if annotations is None:
        annotations = root / "annotations" / f"instances_{coco_split}.json"
        if not annotations.exists():
            fetch_annotations(root / "annotations")
    coco = load_annotations(annotations)
    count = DEFAULT_COUNTS[split] if n_images is None else (n_images or None)
    selection = select_images(coco, class_names, count, seed)
    subset_json = write_subset_json(coco, selection, root / "annotations" / f"subset_{coco_split}.json")
    image_dir = root / "images" / coco_split
    fetched = fetch_images([coco.imgs[i] for i in selection.image_ids], image_dir, image_source,
                           workers=workers, timeout=timeout, progress=progress)
    summary = {"split": split, "annotations": str(annotations), "subset_json": str(subset_json),
               "image_dir": str(image_dir), **selection.summary(), "download": fetched.as_dict()}
    summary["skipped"] = [
        {"file_name": f["file_name"], "reason": f"download failed: {f['reason']}"} for f in fetched.failed]
    return summary


def synthetic_root(root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else data_dir() / "synthetic"


def open_dataset(
    source: str = "synthetic",
    split: str = "train",
    size: int = IMGSZ,
    class_names=CLASS_NAMES,
    spec: SyntheticSpec | None = None,
    root: str | Path | None = None,
    cache_root: str | Path | None = None,
    rebuild: bool = True,
    progress: bool = True,
) -> CachedDataset:
    """The cached, letterboxed dataset for ``source`` ("synthetic" or "coco") and ``split``.

    The synthetic set is generated on first use (``spec`` sets its size; None = use the set that
    is there, or the default spec); the COCO subset must
    have been built (``python -m yolo_lib.data build``). The cache lives in
    ``<cache_root>/<source>_<split>_<size>`` (default ``data_dir()/cache``).
    """
    if split not in COCO_SPLITS:
        raise ValueError(f"split must be one of {sorted(COCO_SPLITS)}, got {split!r}")
    if source == "synthetic":
        base = ensure_synthetic(synthetic_root(root), spec, progress)
        annotations, images = base / f"instances_{split}.json", base / split
    elif source == "coco":
        base, coco_split = coco_root(root), COCO_SPLITS[split]
        annotations = base / "annotations" / f"subset_{coco_split}.json"
        images = base / "images" / coco_split
        if not annotations.exists():
            raise FileNotFoundError(f"{annotations} not found: build the subset first with "
                                    f"`python -m yolo_lib.data build --split {split}`")
    else:
        raise ValueError(f"source must be 'synthetic' or 'coco', got {source!r}")
    cache_dir = Path(cache_root) if cache_root is not None else data_dir() / "cache"
    return open_cache(cache_dir / f"{source}_{split}_{size}", annotations, images, size, class_names,
                      rebuild=rebuild, progress=progress)


def dataset_for_profile(profile, split: str = "train", progress: bool = True) -> CachedDataset:
    """The dataset a notebook or the main job uses for a :class:`yolo_lib.notebook.profile.Profile`.

    ``full``: the COCO person/cell-phone subset when it has been built (``python -m
    yolo_lib.data build``), else the synthetic set; ``smoke``: the synthetic set. A synthetic set
    has ``profile.n_train`` / ``profile.n_val`` images (generated on first use, regenerated when
    the sizes change). Letterboxed at ``profile.imgsz``.
    """
    subset = coco_root() / "annotations" / f"subset_{COCO_SPLITS[split]}.json"
    if profile.name == "full" and subset.exists():
        return open_dataset("coco", split, profile.imgsz, progress=progress)
    spec = SyntheticSpec(n_train=profile.n_train, n_val=profile.n_val)
    return open_dataset("synthetic", split, profile.imgsz, spec=spec, progress=progress)
