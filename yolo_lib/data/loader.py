"""Batches for training and evaluation: augmented images plus padded dense targets.

Each batch is a :class:`Batch` with B images and up to M boxes per image (M fixed for the whole
run, so compiled functions see static shapes):

* ``images``  ``(B, 3, S, S)`` float32 RGB in [0, 1] (``dtype="float32"``), or uint8 in 0..255
  (``dtype="uint8"``, for conversion on the device); NCHW, letterboxed with grey 114;
* ``boxes``   ``(B, M, 4)`` float32 ``x1, y1, x2, y2`` in input pixels (0..S), valid rows first;
* ``classes`` ``(B, M)`` int32 class index 0..C-1 (order of the class list);
* ``mask``    ``(B, M)`` float32, 1.0 for a real box and 0.0 for padding;
* ``n_boxes`` ``(B,)`` int32 real boxes per image (``mask.sum(1)``);
* ``indices`` ``(B,)`` int64 dataset index of each image (the first mosaic tile).

Padding rows have boxes 0, class 0 and mask 0: always multiply by ``mask``.
:meth:`Batch.loss_targets` converts the targets to the loss helper's format (normalised
``cx, cy, w, h`` and a bool mask, see :func:`yolo_lib.loss.detection_loss.target_variables`).
M defaults to the most boxes any image can carry: the dataset's maximum per image, times 4 when
mosaic is on (augmentation only removes boxes). A smaller ``max_boxes`` is an error when a batch
overflows (``on_overflow="error"``), or with ``on_overflow="truncate"`` the largest boxes are kept
and the dropped ones counted in :attr:`BatchLoader.truncated_boxes` (and a warning printed once).

Determinism: the order of an epoch comes from ``(seed, epoch)`` and each image's augmentation
from ``(seed, epoch, position)``, so results do not depend on threads or prefetch.
Batches are assembled in ``workers`` threads, or with ``processes=N`` in N worker processes
(see :mod:`yolo_lib.data.workers`; needs a dataset opened from a cache folder), and prefetched by
a background thread. Every batch a loader yields owns its arrays (a process-mode batch is copied
out of the shared ring by the prefetch thread), so it may be kept, and handed to
``jax.device_put``, for as long as you like. The exception is ``reuse_buffers=True`` (thread
mode, for benchmarks): the arrays are recycled ``workers + prefetch + 2`` batches later (no
fresh allocation per batch), so only the current and the previous batch stay valid. Not even
``jax.device_put`` is a safe copy of such a batch: on the CPU backend it *aliases* a large
aligned NumPy array instead of copying it, and on a GPU the copy may still be in flight when it
returns. Call :meth:`BatchLoader.close` to stop worker processes early (they also stop when the
loader is garbage collected or the interpreter exits). Worker processes are spawned, so a
*script* using them needs the usual ``if __name__ == "__main__":`` guard (notebooks do not).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from yolo_lib.data.augment import AugmentConfig, Workspace, apply_colour, colour_matrix, mosaic_canvas, random_affine
from yolo_lib.data.cache import CachedDataset
from yolo_lib.data.workers import ProcessRing


@dataclass
class Batch:
    """One batch; shapes in the module docstring."""

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    mask: np.ndarray
    n_boxes: np.ndarray
    indices: np.ndarray

    def loss_targets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes, classes, mask) as the loss takes them (``target_variables`` order and dtypes).

        boxes ``(B, M, 4)`` float32 ``cx, cy, w, h`` divided by the image size S (0..1), classes
        ``(B, M)`` int32, mask ``(B, M)`` bool; padding rows stay all zero.
        """
        size = np.float32(self.images.shape[-1])
        xy1, xy2 = self.boxes[..., :2], self.boxes[..., 2:]
        cxcywh = np.concatenate([(xy1 + xy2) / 2, xy2 - xy1], axis=-1) / size
        return cxcywh.astype(np.float32), self.classes.copy(), self.mask > 0


class BatchLoader:
    """Iterate over a :class:`CachedDataset` in batches; ``loader.epoch(e)`` yields :class:`Batch`.

    ``augment=None`` gives the letterboxed images unchanged (evaluation). Mosaic is used with
    probability ``augment.mosaic`` except in the last ``close_mosaic`` of ``epochs`` epochs.
    """

    def __init__(self, dataset: CachedDataset, batch_size: int = 64, augment: AugmentConfig | None = AugmentConfig(),
                 shuffle: bool = True, seed: int = 0, epochs: int | None = None, close_mosaic: int = 10,
                 max_boxes: int | None = None, on_overflow: str = "error", dtype: str = "float32",
                 drop_last: bool = True, workers: int = 1, prefetch: int = 2, reuse_buffers: bool = False,
                 processes: int = 0):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if len(dataset) == 0:
            raise ValueError(f"dataset {dataset.root} has no images")
        if drop_last and len(dataset) < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {len(dataset)} images with drop_last=True")
        if dtype not in ("float32", "uint8"):
            raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
        if on_overflow not in ("error", "truncate"):
            raise ValueError(f"on_overflow must be 'error' or 'truncate', got {on_overflow!r}")
        self.dataset, self.batch_size, self.augment = dataset, batch_size, augment
        self.shuffle, self.seed, self.epochs, self.close_mosaic = shuffle, seed, epochs, close_mosaic
        self.dtype, self.drop_last, self.on_overflow = np.dtype(dtype), drop_last, on_overflow
        if processes and not (Path(dataset.root) / "meta.json").exists():
            raise ValueError("processes > 0 needs a dataset opened from a cache folder (open_cache/open_dataset)")
        self.processes = max(0, processes)
        self.workers = self.processes or max(1, workers)
        if processes and reuse_buffers:
            raise ValueError("reuse_buffers is for thread mode; process-mode batches are copied out of the shared ring")
        self.prefetch, self.reuse_buffers = max(1, prefetch), reuse_buffers
        self._settings = dict(batch_size=batch_size, augment=augment, shuffle=shuffle, seed=seed, epochs=epochs,
                              close_mosaic=close_mosaic, max_boxes=max_boxes, on_overflow=on_overflow, dtype=dtype,
                              drop_last=drop_last)
        self._ring = None  # ProcessRing, started on first use
        mosaic_on = augment is not None and augment.mosaic > 0
        self.max_boxes = max_boxes or max(1, dataset.max_boxes_per_image * (4 if mosaic_on else 1))
        self._settings["max_boxes"] = self.max_boxes
        self.truncated_boxes = 0
        self._warned = False
        self._lock = threading.Lock()
        self._local = threading.local()  # one Workspace per worker thread
        self._buffers: list[Batch] = []  # batch ring for reuse_buffers
        self._tiles = [self._tile(i) for i in range(len(dataset))] if mosaic_on else None

    def __len__(self) -> int:
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def mosaic_enabled(self, epoch: int) -> bool:
        """Whether mosaic is used in ``epoch`` (0-based)."""
        if self.augment is None or self.augment.mosaic == 0:
            return False
        return self.epochs is None or epoch < self.epochs - self.close_mosaic

    def _tile(self, i: int):
        x1, y1, x2, y2 = (int(v) for v in self.dataset.content[i])
        boxes, classes = self.dataset.labels(i)
        return (x1, y1, x2, y2), (boxes - np.array([x1, y1, x1, y1], np.float32), classes)

    def order(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def sample(self, index: int, rng: np.random.Generator, mosaic: bool, out: np.ndarray):
        """Write one (augmented) image into ``out`` (3, S, S); return its boxes and classes."""
        ds, cfg, size = self.dataset, self.augment, self.dataset.size
        if cfg is None:
            apply_colour(ds.images[index], None, out)
            return ds.labels(index)
        ws = self._workspace()
        if mosaic and rng.random() < cfg.mosaic:
            picks = [index, *rng.integers(0, len(ds), 3)]
            tiles, labels = [], []
            for i in picks:
                (x1, y1, x2, y2), lab = self._tiles[i]
                tiles.append(ds.images[i, :, y1:y2, x1:x2])
                labels.append(lab)
            canvas, boxes, classes = mosaic_canvas(tiles, labels, size, rng, ws.canvas)
        else:
            canvas, (boxes, classes) = ds.images[index], ds.labels(index)
        image, boxes, classes = random_affine(canvas, boxes, classes, size, rng, cfg, ws.image)
        apply_colour(image, colour_matrix(rng, cfg), out, ws.floats)
        return boxes, classes

    def _workspace(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace(self.dataset.size)
        return ws

    def _empty_batch(self, b: int, images: np.ndarray | None = None) -> Batch:
        size, m = self.dataset.size, self.max_boxes
        images = np.empty((b, 3, size, size), self.dtype) if images is None else images
        return Batch(images, np.zeros((b, m, 4), np.float32),
                     np.zeros((b, m), np.int32), np.zeros((b, m), np.float32), np.zeros(b, np.int32),
                     np.zeros(b, np.int64))

    def _make_batch(self, epoch: int, start: int, idx: np.ndarray, mosaic: bool, buffer: Batch | None = None) -> Batch:
        m, b = self.max_boxes, len(idx)
        batch = buffer if buffer is not None and len(buffer.indices) == b else self._empty_batch(b)
        images, boxes, classes, mask, n_boxes = batch.images, batch.boxes, batch.classes, batch.mask, batch.n_boxes
        boxes[...], classes[...], mask[...] = 0, 0, 0
        for j, i in enumerate(idx):
            rng = np.random.default_rng([self.seed, epoch, start + j])
            bx, cl = self.sample(int(i), rng, mosaic, images[j])
            if len(cl) > m:
                bx, cl = self._overflow(bx, cl, int(i))
            k = len(cl)
            boxes[j, :k], classes[j, :k], mask[j, :k], n_boxes[j] = bx, cl, 1.0, k
        batch.indices[...] = idx
        return batch

    def assemble(self, epoch: int, start: int, idx: np.ndarray, mosaic: bool, images: np.ndarray | None = None) -> Batch:
        """The batch of dataset indices ``idx`` at epoch position ``start``, its images written into
        ``images`` (len(idx), 3, S, S) when given (a worker process's shared ring slot)."""
        return self._make_batch(epoch, start, idx, mosaic, self._empty_batch(len(idx), images=images))

    def _overflow(self, boxes, classes, index):
        if self.on_overflow == "error":
            raise ValueError(
                f"image {index} has {len(classes)} boxes after augmentation, more than max_boxes={self.max_boxes}; "
                "raise max_boxes or pass on_overflow='truncate' (keeps the largest, counts the rest)")
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = np.sort(np.argsort(-area, kind="stable")[: self.max_boxes])
        with self._lock:
            self.truncated_boxes += len(classes) - self.max_boxes
            if not self._warned:
                print(f"BatchLoader: truncating to max_boxes={self.max_boxes} (dropped boxes are counted "
                      "in loader.truncated_boxes)")
                self._warned = True
        return boxes[keep], classes[keep]

    def epoch(self, epoch: int = 0, start_batch: int = 0) -> Iterator[Batch]:
        """Yield the batches of ``epoch`` from batch ``start_batch`` on (a resumed epoch gets the
        same batches as an uninterrupted one), prefetched in a background thread."""
        order, mosaic, b = self.order(epoch), self.mosaic_enabled(epoch), self.batch_size
        starts = range(start_batch * b, len(self) * b, b)
        jobs = [(s, order[s:s + b]) for s in starts]
        ring = min(self.workers + self.prefetch + 2, len(jobs))
        if self.processes:
            submit = self._process_submitter(epoch, mosaic)
        else:
            if self.reuse_buffers and len(self._buffers) < ring:  # kept across epochs
                self._buffers += [self._empty_batch(b) for _ in range(ring - len(self._buffers))]
            buffers = self._buffers[:ring] if self.reuse_buffers else []

            def submit(pool, k, s, idx):
                buffer = buffers[k % len(buffers)] if buffers else None
                return pool.submit(self._make_batch, epoch, s, idx, mosaic, buffer).result
        results: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce():
            with ThreadPoolExecutor(self.workers) as pool:  # idle in process mode
                pending: deque = deque()
                try:
                    for k, (s, idx) in enumerate(jobs):
                        if stop.is_set():
                            break
                        pending.append(submit(pool, k, s, idx))
                        if len(pending) >= self.workers:
                            _put(pending.popleft()())
                    while pending and not stop.is_set():
                        _put(pending.popleft()())
                except BaseException as e:  # surfaced in the consumer
                    _put(e)
                    return
                finally:  # stopped early: let in-flight jobs finish, so none writes a slot the next epoch reuses
                    for finish in pending:
                        try:
                            finish()
                        except BaseException:
                            pass
                _put(None)

        def _put(item):
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        thread = threading.Thread(target=produce, name="BatchLoader-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = results.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=10)

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch(0)

    def _process_submitter(self, epoch: int, mosaic: bool):
        """submit(pool, k, start, idx) -> callable returning the Batch assembled by a worker process."""
        slots = self.workers + self.prefetch + 2
        if self._ring is None:
            self._ring = ProcessRing(BatchLoader, str(self.dataset.root), self._settings, self.processes, slots,
                                     self.batch_size, self.dataset.size, self.dtype)

        def submit(_pool, k, s, idx):
            slot = k % slots
            future = self._ring.submit(epoch, s, idx, mosaic, slot)

            def finish():
                boxes, classes, mask, n_boxes, truncated = future.result()
                with self._lock:
                    self.truncated_boxes += truncated
                images = self._ring.images[slot, : len(idx)].copy()  # the slot is free once this returns
                return Batch(images, boxes, classes, mask, n_boxes, idx.astype(np.int64))
            return finish
        return submit

    def close(self) -> None:
        """Stop the worker processes (if any) and free the shared image ring."""
        if self._ring is not None:
            self._ring.close()
            self._ring = None
