"""The evaluator: a model (or any inference function) on a COCO-format set -> COCOeval summary.

Pipeline per batch of ``batch`` images: letterbox (no augmentation) -> the compiled eval
function (one per model and input shape, cached on the model; the last batch is padded with
grey images) -> multi-label class-aware NMS (conf 0.001, IoU 0.7, at most 300 boxes per image,
as Ultralytics' validator) -> boxes mapped back to original pixels (the exact letterbox
inverse) -> a COCO results list -> COCOeval (faster-coco-eval by default, pycocotools on
request: the same numbers, see :mod:`.coco_metrics`).

Images are decoded and stacked into the model input on a background thread while the model runs.

Two engines run the model (``engine=`` of :meth:`Evaluator.evaluate`): ``"jax"``, the compiled
PyTensor function on JAX's default device; ``"onnxruntime"``, the same model exported by
:func:`yolo_lib.export.yolo.export_yolo` (BN folded, parity with the PyTensor graph tested in
``tests/test_export_yolo.py``) and run by onnxruntime on the CPU, faster there than XLA's CPU
convolutions and with no compile (see ``docs/benchmarks.md``). ``"auto"`` (the default) takes
onnxruntime when JAX runs on the CPU and JAX on a GPU.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from yolo_lib.data.letterbox import PAD_VALUE, LetterboxParams, boxes_from_letterbox
from yolo_lib.evaluate.classes import ClassMatch, EvaluationError, match_classes
from yolo_lib.evaluate.coco_metrics import SCORERS, CocoScores, score_detections
from yolo_lib.evaluate.dataset import BadImage, LoadedImage, check_folder, load_image, read_annotations, subset
from yolo_lib.files import atomic_write_text
from yolo_lib.postprocess import EVAL_CONF_THRESHOLD, IOU_THRESHOLD, MAX_DETECTIONS, non_max_suppression
from yolo_lib.task import IMGSZ

#: images (B, 3, S, S) float32 in [0, 1] -> inference output (B, 4+nc, A)
Predictor = Callable[[np.ndarray], np.ndarray]

#: The engines :meth:`Evaluator.evaluate` can run a model on ("auto": see :func:`resolve_engine`).
ENGINES = ("auto", "jax", "onnxruntime")


def resolve_engine(engine: str) -> str:
    """``"auto"`` -> ``"onnxruntime"`` when JAX's default backend is the CPU, else ``"jax"``."""
    if engine not in ENGINES:
        raise EvaluationError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine != "auto":
        return engine
    import jax

    return "onnxruntime" if jax.default_backend() == "cpu" else "jax"

#: Images per onnxruntime call. Its CPU convolutions ran 15-25% faster on 1-2 images than on 16
#: (activations that stay in the cache; 2-core VM, docs/benchmarks.md); the outputs are
#: bit-identical whatever the split.
ONNXRUNTIME_CHUNK = 2


def onnxruntime_predictor(model, imgsz: int) -> Predictor:
    """``model`` exported to ONNX (square ``imgsz``) in an onnxruntime CPU session, as a Predictor.

    The session uses one intra-op thread per core available to this process, without spinning
    (the decoding thread and other processes share the cores), and runs the batch
    :data:`ONNXRUNTIME_CHUNK` images at a time. It is cached on the model
    (``model.compiled``) under a fingerprint of the current weights: a later call with the same
    weights reuses it, changed weights (training) are exported again.
    """
    from yolo_lib.export.yolo import INPUT_NAME, export_yolo, onnx_session
    from yolo_lib.weights import fingerprint, state_dict

    cache = model.__dict__.setdefault("compiled", {})
    key, weights = ("onnxruntime", imgsz), fingerprint(state_dict(model))
    if key not in cache or cache[key][0] != weights:
        session = onnx_session(export_yolo(model, imgsz), threads=_usable_cores(), spinning=False)

        def predict(images: np.ndarray) -> np.ndarray:
            return np.concatenate([session.run(None, {INPUT_NAME: images[i:i + ONNXRUNTIME_CHUNK]})[0]
                                   for i in range(0, len(images), ONNXRUNTIME_CHUNK)])

        cache[key] = weights, predict
    return cache[key][1]


def _usable_cores() -> int:
    """Cores this process may run on (its affinity on Linux; macOS has no affinity call)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def detections_to_coco(det: np.ndarray, params: LetterboxParams, image_id: int,
                       category_ids: Sequence[int | None]) -> list[dict]:
    """NMS rows ``(N, 6)`` [x1, y1, x2, y2, score, class] in letterbox pixels -> COCO results.

    Boxes go back to original pixels (clipped to the image) as ``[x, y, w, h]`` (Python floats:
    the float32 corners, width and height subtracted in float64); rows of a class whose
    category id is None (not in the annotations) are dropped.
    """
    if not len(det):
        return []
    cats = [category_ids[c] for c in det[:, 5].astype(int).tolist()]
    boxes = boxes_from_letterbox(det[:, :4], params).astype(np.float64)
    boxes[:, 2:] -= boxes[:, :2]
    return [{"image_id": image_id, "category_id": cat, "bbox": bbox, "score": score}
            for cat, bbox, score in zip(cats, boxes.tolist(), det[:, 4].tolist()) if cat is not None]


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector (restored afterwards).

    An evaluation allocates tens of thousands of small dicts and lists (the COCO results, the
    indexes of the scorers), none in a reference cycle; their allocation alone would start full
    collections that walk every object of the process (the model graph, JAX): 0.2-0.6 s per
    64-image evaluation, measured.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Evaluator:
    """COCO mAP of a model on one COCO-format set (annotations json + image folder).

    ``class_names``: the model's class names in class-index order; they are matched to the
    annotation categories by name (:mod:`.classes`). ``imgsz``: square letterbox side in pixels
    (a multiple of 32). ``scorer``: the COCOeval implementation (:data:`.coco_metrics.SCORERS`).
    Construction reads and checks the json; images are read by :meth:`evaluate`.
    """

    def __init__(self, annotations: Path, images: Path, class_names: Sequence[str], imgsz: int = IMGSZ,
                 batch: int = 16, conf: float = EVAL_CONF_THRESHOLD, iou: float = IOU_THRESHOLD,
                 max_det: int = MAX_DETECTIONS, progress: bool = True, scorer: str = "faster-coco-eval"):
        if not isinstance(imgsz, int) or imgsz < 32 or imgsz % 32:
            raise EvaluationError(f"imgsz must be a positive multiple of 32, got {imgsz!r}")
        if not isinstance(batch, int) or batch < 1:
            raise EvaluationError(f"batch must be a positive int, got {batch!r}")
        if scorer not in SCORERS:
            raise EvaluationError(f"scorer must be one of {SCORERS}, got {scorer!r}")
        self.annotations, self.folder = Path(annotations), check_folder(images)
        self.dataset = read_annotations(self.annotations)
        self.classes: ClassMatch = match_classes(class_names, self.dataset["categories"], self.dataset["annotations"])
        self.imgsz, self.batch, self.conf, self.iou, self.max_det = imgsz, batch, conf, iou, max_det
        self.progress, self.scorer = progress, scorer
        self.last: dict | None = None  # state of the last evaluate(): summary, results, ground truth

    @property
    def category_ids(self) -> list[int]:
        """The scored categories (matched model classes), in model class order."""
        return [c for _, _, c in self.classes.matched]

    def evaluate(self, model, engine: str = "auto") -> dict:
        """Score a :class:`yolo_lib.model.YOLO11` (its current shared-variable weights); the summary dict.

        ``engine="jax"``: the compiled eval function, built on the first call for this model and
        batch shape and reused afterwards (it lives in ``model.compiled``). ``"onnxruntime"``:
        the model's current weights exported to ONNX and run by onnxruntime; the session is
        reused while the weights stay the same (:func:`onnxruntime_predictor`). The summary's
        ``engine`` says which ran; ``seconds`` includes the compile or export when one happened.
        ``"auto"``: onnxruntime on a CPU, JAX on a GPU (:func:`resolve_engine`).
        """
        from yolo_lib.compilation.functions import eval_function

        engine = resolve_engine(engine)
        if model.nc != len(self.classes.names):
            raise EvaluationError(f"the model has nc={model.nc} classes but {len(self.classes.names)} class "
                                  f"names were given")
        start = time.perf_counter()
        if engine == "jax":
            predict = eval_function(model, self.batch, self.imgsz, self.imgsz)
        else:
            predict = onnxruntime_predictor(model, self.imgsz)
        summary = self.evaluate_predictor(predict, start=start)
        summary["engine"] = engine
        return summary

    def evaluate_predictor(self, predict: Predictor, start: float | None = None) -> dict:
        """Score any function images (batch, 3, S, S) float32 -> inference output (batch, 4+nc, A).

        E.g. an ONNX session wrapped in a function. Returns the summary dict (see :meth:`evaluate`).
        """
        with _cyclic_gc_paused():
            return self._evaluate_predictor(predict, time.perf_counter() if start is None else start)

    def _evaluate_predictor(self, predict: Predictor, start: float) -> dict:
        results, bad, good, timing = [], [], [], {"forward": 0.0, "nms": 0.0}
        nc = len(self.classes.names)
        for loaded, stacked in self._batches():
            bad.extend(x for x in loaded if isinstance(x, BadImage))
            images = [x for x in loaded if isinstance(x, LoadedImage)]
            if not images:
                continue
            t = time.perf_counter()
            output = np.asarray(predict(stacked))
            timing["forward"] += time.perf_counter() - t
            if output.ndim != 3 or output.shape[0] != self.batch or output.shape[1] != 4 + nc:
                raise EvaluationError(f"the model returned shape {output.shape}; expected ({self.batch}, {4 + nc}, A)")
            t = time.perf_counter()
            dets = non_max_suppression(output[:len(images)], self.conf, self.iou, self.max_det, multi_label=True)
            for im, det in zip(images, dets):
                results.extend(detections_to_coco(det, im.letterbox, im.record["id"], self.classes.category_ids))
                good.append(im.record)
            timing["nms"] += time.perf_counter() - t
        if not good:
            raise EvaluationError(f"none of the {len(self.dataset['images'])} images could be read "
                                  f"(first: {bad[0].reason})")
        gt = subset(self.dataset, {r["id"] for r in good})
        t = time.perf_counter()
        scores = score_detections(gt, results, self.category_ids, self.scorer)
        timing["cocoeval"] = time.perf_counter() - t
        seconds = time.perf_counter() - start
        summary = self._summary(scores, results, good, bad, seconds, timing)
        self.last = {"summary": summary, "results": results, "gt": gt, "scores": scores}
        return summary

    def _batches(self) -> Iterator[tuple[list[LoadedImage | BadImage], np.ndarray]]:
        """Images in json order, ``batch`` at a time, with their model input (:meth:`_stack`).

        A thread decodes and stacks one batch ahead, into two input buffers used in turn: the
        thread fills one while the model reads the other (the consumer is done with a buffer
        before it asks for the batch after next).
        """
        records = self.dataset["images"]
        chunks = [records[i:i + self.batch] for i in range(0, len(records), self.batch)]
        buffers = [np.empty((self.batch, 3, self.imgsz, self.imgsz), np.float32) for _ in range(min(2, len(chunks)))]

        def load(i):
            loaded = [load_image(r, self.folder, self.imgsz) for r in chunks[i]]
            return loaded, self._stack([x for x in loaded if isinstance(x, LoadedImage)], buffers[i % 2])

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(load, 0)
            bar = tqdm(total=len(records), desc="evaluate", unit="img", disable=not self.progress, leave=False)
            for i in range(len(chunks)):
                loaded, stacked = pending.result()
                if i + 1 < len(chunks):
                    pending = pool.submit(load, i + 1)
                yield loaded, stacked
                bar.update(len(loaded))
            bar.close()

    @staticmethod
    def _stack(images: list[LoadedImage], out: np.ndarray) -> np.ndarray:
        """``out`` (batch, 3, S, S) float32 in [0, 1] holding ``images`` (uint8 / 255 in float32)
        first; the slots after them (a short last batch) hold grey images."""
        for i, im in enumerate(images):
            np.divide(im.pixels.transpose(2, 0, 1), np.float32(255.0), out=out[i])
        out[len(images):] = PAD_VALUE / 255.0
        return out

    def _summary(self, scores: CocoScores, results, good, bad, seconds, timing) -> dict:
        per_class = {}
        n_dets = {}
        for r in results:
            n_dets[r["category_id"]] = n_dets.get(r["category_id"], 0) + 1
        for _, name, cat in self.classes.matched:
            per_class[name] = {"category_id": cat, **scores.per_class[cat], "detections": n_dets.get(cat, 0)}
        s = scores.stats
        return {
            "mAP50_95": s["mAP50_95"], "mAP50": s["mAP50"], "mAP75": s["mAP75"], "AR100": s["AR100"],
            "precision": scores.precision, "recall": scores.recall, "confidence_best_f1": scores.confidence,
            "per_class": per_class,
            "images": len(good), "bad_images": [{"file": b.record["file_name"], "reason": b.reason} for b in bad],
            "detections": len(results),
            "seconds": round(seconds, 3), "images_per_second": round(len(good) / seconds, 2) if seconds > 0 else None,
            "timing_seconds": {k: round(v, 3) for k, v in timing.items()},
            "imgsz": self.imgsz, "batch": self.batch,
            "conf": self.conf, "iou": self.iou, "max_det": self.max_det, "scorer": self.scorer,
            "model_classes_without_category": self.classes.model_classes_without_category,
            "categories_without_model_class": self.classes.categories_without_model_class,
            "cocoeval": s,
        }

    def save_results(self, out_dir: Path) -> Path:
        """Write the COCO results list of the last :meth:`evaluate` to ``out_dir/predictions.json``."""
        import json

        state = self._last_state()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(out / "predictions.json", json.dumps(state["results"]))

    def save_pictures(self, out_dir: Path) -> list[Path]:
        """Pictures of the last :meth:`evaluate`: boxes grid, PR curves, confusion matrix (PNG)."""
        from yolo_lib.evaluate.pictures import write_pictures

        state = self._last_state()
        return write_pictures(Path(out_dir), state, self.folder, self.classes)

    def _last_state(self) -> dict:
        if self.last is None:
            raise RuntimeError("call evaluate() first")
        return self.last
