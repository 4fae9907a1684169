"""Which ONNX file the demo serves by default, exported on the fly from weights when needed.

Order of preference: the ``best.npz`` of the most recent training run (``runs/*/weights/best.npz``
under the repository or the data directory), else the Ultralytics reference weights in
``../shared/fixtures`` (random but non-trivial: they do produce boxes), else the seeded
initialisation (``build_yolo11(nc=2, seed=0)``: almost no boxes, but the pipeline runs).
Exports land next to the weights (or in ``<data>/demo/``) and are reused while newer than them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yolo_lib.files import atomic_path
from yolo_lib.paths import REPO_ROOT, data_dir, fixture_path
from yolo_lib.task import CLASS_NAMES, IMGSZ

#: Where the default model's weights come from (:attr:`ModelChoice.kind`), best first.
KINDS = ("trained", "fixture", "seeded")


@dataclass(frozen=True)
class ModelChoice:
    """An ONNX file to serve, where its weights came from (``kind``, one of :data:`KINDS`: a
    training run's best weights, the reference fixture's random ones, the seeded initial ones)
    and a sentence saying so (``source``)."""

    onnx_path: Path
    kind: str
    source: str


def latest_best_weights() -> Path | None:
    """The newest ``runs/*/weights/best.npz`` (repository or data directory), or None."""
    found = [p for root in (REPO_ROOT / "runs", data_dir() / "runs") for p in root.glob("*/weights/best.npz")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def export_weights(weights: Path | None, out: Path, names=CLASS_NAMES, imgsz: int = IMGSZ) -> Path:
    """Export ``weights`` (state-dict npz; None = seeded initialisation) to ``out`` unless up to date."""
    if out.exists() and (weights is None or out.stat().st_mtime >= weights.stat().st_mtime):
        return out
    import onnx

    from yolo_lib.export.yolo import export_yolo
    from yolo_lib.model import build_yolo11
    from yolo_lib.weights import model_from_state_dict, read_class_names, read_npz

    if weights is None:
        model = build_yolo11("n", nc=len(names), seed=0)
    else:
        model = model_from_state_dict(read_npz(weights))
        names = read_class_names(weights) or (names if len(names) == model.nc else None)
    with atomic_path(out) as tmp:
        onnx.save(export_yolo(model, imgsz, names=names), str(tmp))
    return out


def default_model() -> ModelChoice:
    """The trained run's best weights, else the fixture weights, else the seeded ones (exported)."""
    best = latest_best_weights()
    if best is not None:
        run = best.parent.parent
        return ModelChoice(export_weights(best, best.with_suffix(".onnx")), "trained",
                           f"trained weights of run {run.name} ({best})")
    fixture = fixture_path("yolo11n_nc2_320.npz")
    out_dir = data_dir() / "demo"
    if fixture is not None:
        return ModelChoice(export_weights(fixture, out_dir / "fixture_yolo11n_nc2_320.onnx"), "fixture",
                           "no training run found: the Ultralytics reference (fixture) weights, random but non-trivial")
    return ModelChoice(export_weights(None, out_dir / "seeded_yolo11n_nc2_320.onnx"), "seeded",
                       "no training run and no ../shared fixtures: seeded initial weights (expect few or no boxes)")
