"""The training loop: :class:`Trainer` owns the model, optimizer, EMA, step, evaluator and checkpoints.

::

    trainer = Trainer(SMOKE, synthetic_source(64, 16), "runs/smoke")
    summary = trainer.fit()        # dict: epochs, best_epoch, mAP50, mAP50_95, seconds, ...
    Trainer.from_run("runs/smoke").fit()   # resume an interrupted run

Per epoch: a tqdm bar (loss items, img/s, lr), the EMA evaluated on the validation split,
``results.csv`` (Ultralytics' columns) and ``results.png``, ``weights/last.npz`` and (when
fitness improves) ``weights/best.npz`` (EMA state dicts with class names), and the full
checkpoint ``weights/last_checkpoint.npz`` (:mod:`yolo_lib.train.checkpoint`) for resume.
At the start ``labels.jpg`` and ``train_batch{0,1,2}.jpg``; at the end the evaluator's
pictures and ``best.onnx`` with its parity report.

Exact resume: the data order and augmentation are functions of (seed, epoch, position), and the
checkpoint holds all state (weights, BN statistics, momentum, gradient sums, EMA, counters), so
a resumed run ends with the weights of an uninterrupted one. kill -9 resumes from the end of the
last finished epoch; Ctrl-C finishes the current iteration, saves the mid-epoch state and raises
:class:`TrainingInterrupted` (the resume continues from that batch).

Data parallel: ``Trainer(..., devices=n)`` splits each batch over ``n`` devices
(:mod:`yolo_lib.compilation.parallel`; default all devices of JAX's default backend, 1 = no mesh). It is a
property of the machine, not of the recipe: not in :class:`TrainConfig`, and a resume may use
another count. Checkpoints hold plain numpy arrays whatever the count.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from yolo_lib.cli.interrupts import signal_handlers
from yolo_lib.cli.runner import CommandInterrupted
from yolo_lib.data import BatchLoader
from yolo_lib.files import atomic_path, atomic_write_text
from yolo_lib.model import build_yolo11
from yolo_lib.train.checkpoint import load_checkpoint, save_checkpoint
from yolo_lib.train.config import TrainConfig
from yolo_lib.train.data import DataSource
from yolo_lib.train.schedule import iteration_settings
from yolo_lib.task import COCO80_ROWS, coco80_rows
from yolo_lib.weights import (
    CheckpointError, fingerprint, infer_architecture, load_state_dict, read_npz, state_dict, write_npz,
)

#: results.csv columns, as Ultralytics writes them (val losses are not computed here: left empty).
RESULT_COLUMNS = ("epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)",
                  "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss",
                  "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2")
CHECKPOINT = "last_checkpoint.npz"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(CommandInterrupted):
    """Ctrl-C: the state was saved; the message says how to continue (``Trainer.resume_hint``)."""


def check_writable(out_dir: Path) -> None:
    """One-line OSError when ``out_dir`` cannot be created or written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"output folder {out_dir} is not writable: {e.strerror or e}") from None


def _device_count(devices: int | None, batch: int) -> int:
    """``devices`` (None: every device of JAX's default backend), checked against what JAX sees
    and against ``batch``; one-line ValueError otherwise."""
    import jax

    available = len(jax.devices())
    n = available if devices is None else int(devices)
    if not 1 <= n <= available:
        raise ValueError(f"devices={devices}, but JAX sees {available} {jax.default_backend()} device(s)")
    if batch % n:
        raise ValueError(f"batch {batch} does not divide by the {n} devices; use a batch that is a multiple "
                         f"of {n} or another device count (--devices)")
    return n


class Trainer:
    """One training run in ``out_dir``; see module docstring."""

    def __init__(self, cfg: TrainConfig, source: DataSource, out_dir: str | Path, weights: str | Path | None = None,
                 progress: bool = True, checkpoint: dict | None = None, log=print, on_epoch_end=None,
                 devices: int | None = None):
        cfg.check()
        source.check()
        self.devices = _device_count(devices, cfg.batch)
        self.out = Path(out_dir)
        check_writable(self.out / "weights")
        if weights is not None and not Path(weights).is_file():
            raise FileNotFoundError(f"weights file not found: {weights}")
        self.cfg, self.source, self.weights_path, self.progress, self.log = cfg, source, weights, progress, log
        self.class_names = list(source.class_names)
        self.resume_state = checkpoint
        self.epoch, self.batch_in_epoch, self.iteration = 0, 0, 0
        self.best_fitness, self.best_epoch, self.history = None, None, []
        self.epoch_loss, self.epoch_count = np.zeros(3), 0
        self.train_images, self.train_seconds = 0, 0.0  # this session, without the first (compiling) call
        self.compile_seconds = None  # first call of the step (XLA compilation, or loading it from the cache)
        # host seconds after the compiling call: fetching + copying batches, dispatching the step
        # (asynchronous: the device's time shows where the host waits for it, mostly in "log",
        # which reads the loss accumulators), logging; "iterations" timed
        self.loop_seconds = {"data": 0.0, "step": 0.0, "log": 0.0, "iterations": 0}
        self.on_epoch_end = on_epoch_end  # called with the results row after each epoch (live plots)
        self._stop = False
        self.saved_on_interrupt = False
        self._built = False

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_run(cls, run_dir: str | Path, progress: bool = True, source: DataSource | None = None, log=print,
                 devices: int | None = None):
        """Resume the run in ``run_dir`` from its checkpoint (on ``devices`` devices, any count). A
        ``source`` other than the run's own (different data) is refused."""
        path = Path(run_dir) / "weights" / CHECKPOINT
        ckpt = load_checkpoint(path)
        cfg = TrainConfig.from_dict(ckpt["config"])
        own = DataSource(**{k: (Path(v) if k.endswith(("annotations", "images")) else v)
                            for k, v in ckpt["data_source"].items()})
        own = DataSource(**{**own.__dict__, "class_names": tuple(own.class_names)})
        if source is not None and source.fingerprint() != ckpt["fingerprint"]["data"]:
            raise CheckpointError(f"{path} was trained on other data ({own.name}, classes {list(own.class_names)}); "
                                  "resume without a data option, or start a new run")
        return cls(cfg, own, run_dir, progress=progress, checkpoint=ckpt, log=log, devices=devices)

    def build(self) -> None:
        """Open the data, build the model, optimizer, EMA and compiled step (compiles)."""
        cfg = self.cfg
        from yolo_lib.compilation.parallel import data_mesh
        from yolo_lib.train.step import TrainingStep

        self.train_set = self.source.open("train", cfg.imgsz, self.progress)
        self.loader = BatchLoader(self.train_set, cfg.batch, cfg.augment, shuffle=True, seed=cfg.seed, epochs=cfg.epochs,
                                  close_mosaic=cfg.close_mosaic, max_boxes=cfg.max_boxes, on_overflow="truncate",
                                  dtype="uint8", workers=cfg.workers, processes=cfg.processes)
        self.nb = len(self.loader)
        self.model = build_yolo11("n", len(self.class_names), seed=cfg.seed)
        if self.weights_path is not None and self.resume_state is None:
            self._load_initial_weights(self.weights_path)
        self.model_fingerprint = fingerprint(state_dict(self.model), values=False)
        self.data_fingerprint = self.source.fingerprint()
        if self.resume_state is not None:
            self._check_resumable(self.resume_state)  # before the compile
        mesh = data_mesh(self.devices) if self.devices > 1 else None
        self.step = TrainingStep.from_config(self.model, cfg, self.loader.max_boxes, mesh=mesh)
        self.sgd, self.ema = self.step.sgd, self.step.ema
        if self.resume_state is not None:
            self._restore(self.resume_state)
        self.eval_model = build_yolo11("n", len(self.class_names), init=False)
        self.evaluator = None
        if cfg.val:
            from yolo_lib.evaluate import Evaluator

            self.evaluator = Evaluator(self.source.val_annotations, self.source.val_images, self.class_names,
                                       imgsz=cfg.imgsz, batch=cfg.val_batch, progress=self.progress)
        self._built = True

    def _load_initial_weights(self, path) -> None:
        sd = read_npz(path)
        nc = infer_architecture(sd)["nc"]
        class_ids = None
        if nc != len(self.class_names):
            if nc != 80 or not set(self.class_names) <= set(COCO80_ROWS):
                raise ValueError(f"{path} has {nc} classes; class selection from it works for an 80-class COCO "
                                 f"checkpoint and the classes {sorted(COCO80_ROWS)}")
            class_ids = coco80_rows(self.class_names)
        load_state_dict(self.model, sd, class_ids)

    # ---------------------------------------------------------------- checkpoints
    def checkpoint(self) -> dict:
        """The full training state as one plain dict (see :mod:`yolo_lib.train.checkpoint`)."""
        tensors = {**self.model.params, **self.model.buffers}
        return {
            "model": {n: np.asarray(v.get_value()) for n, v in tensors.items()},  # gathered to the host
            "optimizer": self.sgd.state_dict(), "ema": self.ema.state_dict(),
            "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "iteration": self.iteration,
            "epoch_loss": [float(v) for v in self.epoch_loss], "epoch_count": self.epoch_count,
            "best_fitness": self.best_fitness, "best_epoch": self.best_epoch, "history": self.history,
            "config": self.cfg.as_dict(), "class_names": self.class_names,
            "data_source": {k: str(v) if isinstance(v, Path) else (list(v) if isinstance(v, tuple) else v)
                            for k, v in self.source.__dict__.items()},
            "fingerprint": {"data": self.data_fingerprint, "model": self.model_fingerprint},
        }

    def _check_resumable(self, ckpt: dict) -> None:
        where = self.out / "weights" / CHECKPOINT
        if ckpt["fingerprint"]["model"] != self.model_fingerprint:
            raise CheckpointError(f"{where} holds another model (classes {ckpt['class_names']}); start a new run")
        if ckpt["fingerprint"]["data"] != self.data_fingerprint:
            raise CheckpointError(f"{where} was trained on other data than {self.source.train_annotations} "
                                  "(annotations changed); start a new run")

    def _restore(self, ckpt: dict) -> None:
        tensors = {**self.model.params, **self.model.buffers}
        for name, var in tensors.items():
            var.set_value(np.asarray(ckpt["model"][name], np.float32))
        self.sgd.load_state_dict(ckpt["optimizer"])
        self.ema.load_state_dict(ckpt["ema"])
        self.epoch, self.batch_in_epoch, self.iteration = ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["iteration"]
        self.epoch_loss, self.epoch_count = np.asarray(ckpt["epoch_loss"], np.float64), ckpt["epoch_count"]
        self.best_fitness, self.best_epoch, self.history = ckpt["best_fitness"], ckpt["best_epoch"], ckpt["history"]
        self.log(f"resuming {self.out} at epoch {self.epoch + 1}/{self.cfg.epochs}, batch {self.batch_in_epoch}")

    def _save(self) -> Path:
        return save_checkpoint(self.checkpoint(), self.out / "weights" / CHECKPOINT)

    def ema_state_dict(self) -> dict:
        """The EMA weights as an Ultralytics state dict."""
        self.ema.copy_to(self.eval_model)
        return state_dict(self.eval_model)

    @property
    def resume_hint(self) -> str:
        return f"python -m yolo_lib.train --resume {self.out}"

    def interrupt_note(self) -> str:
        """What an interruption keeps (for the one-line message of :mod:`yolo_lib.cli.interrupts`)."""
        if self.saved_on_interrupt:
            return f"saved at epoch {self.epoch + 1}, batch {self.batch_in_epoch}"
        if (self.out / "weights" / CHECKPOINT).exists():
            return "not saved now; the resume restarts from the last finished epoch"
        return "nothing saved yet: no epoch finished, so start the same command again instead"

    # ---------------------------------------------------------------- training
    def _ctrl_c_finishes_iteration(self):
        """First Ctrl-C (or SIGTERM): stop after the current iteration, state saved; second: abort
        now. Signals the process ignores (``nohup``) stay ignored; off the main thread, no change."""
        return signal_handlers(self._on_signal)

    @property
    def stop_requested(self) -> bool:
        """True once a Ctrl-C (or SIGTERM) asked the run to stop after the current iteration."""
        return self._stop

    def _on_signal(self, signum, frame):
        if self._stop:
            raise KeyboardInterrupt
        self._stop = True
        self.log("\ninterrupt: finishing this iteration and saving (press Ctrl-C again to abort without saving)")

    def fit(self) -> dict:
        """Train to ``cfg.epochs`` (from the checkpoint when resuming); returns the summary dict."""
        t0 = time.time()
        if not self._built:
            self.build()
        if self.resume_state is None and self.cfg.plots:
            self._plot_start()
        try:
            with self._ctrl_c_finishes_iteration():
                while self.epoch < self.cfg.epochs:
                    self._train_epoch(self.epoch)
                    if self._stop:
                        path = self._save()
                        self.saved_on_interrupt = True
                        raise TrainingInterrupted(f"interrupted at epoch {self.epoch + 1}, batch {self.batch_in_epoch}; "
                                                  f"state saved to {path}; resume with: {self.resume_hint}")
                    self._end_epoch(self.epoch)
        finally:
            self.loader.close()  # worker processes, if any (a later fit() starts them again)
        return self._finish(time.time() - t0)

    def _train_epoch(self, epoch: int) -> None:
        cfg, step, sgd, ema, nb = self.cfg, self.step, self.sgd, self.ema, self.nb
        start = self.batch_in_epoch
        if start == 0:
            self.epoch_loss, self.epoch_count = np.zeros(3), 0
        batches = self.loader.epoch(epoch, start_batch=start)
        bar = tqdm(total=nb, initial=start, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self.progress,
                   unit="batch", leave=True, dynamic_ncols=True)
        t_start, images = time.time(), 0
        split = self.loop_seconds
        step.read_losses()  # clear
        try:
            if start < nb:  # start == nb: Ctrl-C came in the epoch's last iteration
                t = time.perf_counter()
                batch = next(batches)
                device_batch = step.put(batch.images, batch.boxes, batch.classes, batch.mask)
                if self.compile_seconds is not None:
                    split["data"] += time.perf_counter() - t
            for i in range(start, nb):
                t0 = time.perf_counter()
                timed = self.compile_seconds is not None  # the compiling iteration is timed apart
                ni = epoch * nb + i
                s = iteration_settings(ni, nb, cfg)
                do_step = ni - sgd.last_step >= s.accumulate
                decay = ema.decay(ema.updates + 1) if do_step else 0.0
                step(device_batch, s, do_step, decay, ni)  # an optimizer step counts itself in sgd and ema
                self.iteration, self.batch_in_epoch = ni + 1, i + 1
                if not timed:  # the first call compiles: time it apart from training
                    step.wait()
                    self.compile_seconds = time.time() - t_start
                    t_start = time.time()
                else:
                    images += cfg.batch
                    split["step"] += time.perf_counter() - t0
                    split["iterations"] += 1
                t1 = time.perf_counter()
                if i + 1 < nb:  # the host prepares and copies the next batch while the step runs
                    batch = next(batches)
                    device_batch = step.put(batch.images, batch.boxes, batch.classes, batch.mask)
                t2 = time.perf_counter()
                if (i + 1) % cfg.log_every == 0 or i + 1 == nb or self._stop:
                    self._collect_losses(epoch, nb)
                    rate = images / max(time.time() - t_start, 1e-9)
                    loss = self.epoch_loss / max(self.epoch_count, 1)
                    bar.set_postfix_str(f"box {loss[0]:.3f} cls {loss[1]:.3f} dfl {loss[2]:.3f} "
                                        f"{rate:.1f} img/s lr {s.lr_weight:.2e}", refresh=False)
                    bar.update(i + 1 - bar.n)
                if timed:
                    split["data"] += t2 - t1
                    split["log"] += time.perf_counter() - t2
                if self._stop:
                    break
        finally:
            batches.close()
            bar.close()
        self.train_images += images
        self.train_seconds += time.time() - t_start
        self.last_settings = iteration_settings(epoch * nb + self.batch_in_epoch - 1, nb, cfg)

    def _collect_losses(self, epoch: int, nb: int) -> None:
        total, count = self.step.read_losses()
        bad = self.step.first_bad_iteration()
        if bad is not None:
            raise NonFiniteLossError(
                f"loss is NaN/inf at iteration {bad} (epoch {bad // nb + 1}, batch {bad % nb + 1}); training stopped, "
                f"the last good checkpoint {self.out / 'weights' / CHECKPOINT} is kept")
        self.epoch_loss = self.epoch_loss + total
        self.epoch_count += count

    def _end_epoch(self, epoch: int) -> None:
        cfg = self.cfg
        t0 = time.time()
        self.ema.copy_to(self.eval_model)
        metrics = self.evaluator.evaluate(self.eval_model) if self.evaluator is not None else {}
        loss = self.epoch_loss / max(self.epoch_count, 1)
        s = self.last_settings
        row = {"epoch": epoch + 1, "time": round(self.train_seconds + (time.time() - t0), 3),
               "train/box_loss": loss[0], "train/cls_loss": loss[1], "train/dfl_loss": loss[2],
               "metrics/precision(B)": metrics.get("precision"), "metrics/recall(B)": metrics.get("recall"),
               "metrics/mAP50(B)": metrics.get("mAP50"), "metrics/mAP50-95(B)": metrics.get("mAP50_95"),
               "val/box_loss": None, "val/cls_loss": None, "val/dfl_loss": None,
               "lr/pg0": s.lr_weight, "lr/pg1": s.lr_weight, "lr/pg2": s.lr_bias}
        row = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()}
        self.history.append(row)
        fitness = None
        if metrics:
            w50, w5095 = cfg.fitness_weights
            fitness = w50 * metrics["mAP50"] + w5095 * metrics["mAP50_95"]
        improved = fitness is None or self.best_fitness is None or fitness > self.best_fitness
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        sd = state_dict(self.eval_model)
        write_npz(sd, self.out / "weights" / "last.npz", self.class_names)
        if improved:
            self.best_fitness, self.best_epoch = fitness, epoch + 1
            write_npz(sd, self.out / "weights" / "best.npz", self.class_names)
        self._save()  # last: the resume point, written after the weight files
        self._write_results()
        m = " ".join(f"{label} {metrics[k]:.4f}" for label, k in (("mAP50", "mAP50"), ("mAP50-95", "mAP50_95"),
                     ("P", "precision"), ("R", "recall")) if metrics.get(k) is not None) or "no validation"
        self.log(f"epoch {epoch + 1}/{cfg.epochs}: loss box {loss[0]:.4f} cls {loss[1]:.4f} dfl {loss[2]:.4f} | {m} | "
                 f"lr {s.lr_weight:.2e}{' | best' if improved else ''}")
        if self.on_epoch_end is not None:
            self.on_epoch_end(row)

    def _write_results(self) -> None:
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(RESULT_COLUMNS)
        for row in self.history:
            w.writerow(["" if row[c] is None else (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c])
                        for c in RESULT_COLUMNS])
        atomic_write_text(self.out / "results.csv", text.getvalue())
        if self.cfg.plots:
            from yolo_lib.train.plots import plot_results

            plot_results(self.history, self.out / "results.png")

    def _plot_start(self) -> None:
        from yolo_lib.train.plots import plot_batch, plot_labels

        plot_labels(self.train_set, self.out / "labels.jpg")
        batches = self.loader.epoch(0)
        try:
            for k, batch in zip(range(3), batches):
                plot_batch(batch, self.class_names, self.out / f"train_batch{k}.jpg")
        finally:
            batches.close()

    def _finish(self, seconds: float) -> dict:
        best = None
        if self.best_epoch is not None:
            best = self.history[self.best_epoch - 1]
        if self.evaluator is not None and (self.out / "weights" / "best.npz").exists():
            load_state_dict(self.eval_model, read_npz(self.out / "weights" / "best.npz"))
            self.evaluator.evaluate(self.eval_model)
            self.evaluator.save_pictures(self.out / "val")
            if self.cfg.export_onnx:
                self._export_best()
        rate = self.train_images / self.train_seconds if self.train_seconds else None
        n = max(self.loop_seconds["iterations"], 1)
        split = {k: round(1e3 * self.loop_seconds[k] / n, 3) for k in ("data", "step", "log")}
        return {"epochs": self.epoch, "best_epoch": self.best_epoch,
                "mAP50": best and best["metrics/mAP50(B)"], "mAP50_95": best and best["metrics/mAP50-95(B)"],
                "seconds": round(seconds, 2), "train_images_per_second": rate and round(rate, 2),
                "step_compile_seconds": self.compile_seconds and round(self.compile_seconds, 2),
                "iteration_ms": split, "devices": self.devices, "precision": self.cfg.precision,
                "run_dir": str(self.out)}

    def _export_best(self) -> None:
        import onnx

        from yolo_lib.export.report import parity_vs_pytensor
        from yolo_lib.export.yolo import export_yolo

        proto = export_yolo(self.eval_model, self.cfg.imgsz, names=self.class_names)
        with atomic_path(self.out / "weights" / "best.onnx") as tmp:
            onnx.save(proto, str(tmp))
        images = self.train_set.images[:2].astype(np.float32) / 255.0
        report = parity_vs_pytensor(proto, self.eval_model, images)
        atomic_write_text(self.out / "weights" / "best_onnx_parity.json", json.dumps(report, indent=2, default=float))
        self.log(f"best.onnx: parity vs PyTensor max_rel {report['max_rel']:.2e} ({'ok' if report['ok'] else 'FAILED'})")

