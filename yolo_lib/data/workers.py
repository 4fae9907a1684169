"""Batch assembly in worker processes, writing images into a shared-memory ring.

Threads share one GIL, so the Python part of the augmentation (about a third of its time)
limits how far threads scale; processes do not share it. Workers are *spawned* (fresh
interpreters, not forked: forking a process that runs JAX's threads can deadlock). Each one
re-opens the cache by its folder (the images are a memory map, so nothing is copied), builds a
thread-mode :class:`~yolo_lib.data.loader.BatchLoader` with the same settings and writes the
images of the batch it is given straight into a slot of a shared ``(slots, B, 3, S, S)`` array
(a memory-mapped file in ``/dev/shm``, unlinked on close; arrays still viewing it stay valid
until they are garbage collected); only the small target arrays travel back through a pipe; the parent copies the images out of
the slot as the batch arrives, so the slot is free again at once. Results are identical to
thread mode (every image's randomness comes from ``(seed, epoch, position)``). Workers ignore
SIGINT: a Ctrl-C in a terminal reaches the whole process group, and it is the parent's to handle.
They ignore it from the moment they exist: the pool spawns a worker inside ``submit``, which
runs with SIGINT blocked in the calling thread, so the new process starts with it blocked (a
signal mask survives fork and exec) through the second or so its interpreter needs to import
this package, and its initializer ignores SIGINT before unblocking it (which discards one that
came meanwhile). Otherwise a Ctrl-C in that second killed the worker and broke the pool.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import weakref
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from yolo_lib.data.cache import load_cache

_state: dict = {}  # per worker process: the loader and the mapped ring


def _release(path: str, pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ProcessRing:
    """A pool of worker processes plus the shared image ring they write into."""

    def __init__(self, loader_class: type, cache_root: str, loader_kwargs: dict, processes: int, slots: int,
                 batch: int, size: int, dtype: np.dtype):
        """``loader_class`` is :class:`~yolo_lib.data.loader.BatchLoader` (passed in, so this module does
        not import the loader that imports it); each worker builds one in thread mode."""
        self.shape = (slots, batch, 3, size, size)
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, self.path = tempfile.mkstemp(prefix="yolo_batch_ring_", suffix=".u8", dir=folder)
        os.close(fd)
        self.images = np.asarray(np.memmap(self.path, np.dtype(dtype), "w+", shape=self.shape))
        self.pool = ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn"), initializer=_init,
                                        initargs=(loader_class, cache_root, loader_kwargs, self.path, self.shape, str(np.dtype(dtype))))
        self._finalizer = weakref.finalize(self, _release, self.path, self.pool)

    def submit(self, epoch: int, start: int, idx: np.ndarray, mosaic: bool, slot: int):
        """Queue one batch for slot ``slot``; the pool may spawn a worker here (SIGINT blocked: module doc)."""
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self.pool.submit(_job, epoch, start, idx, mosaic, slot)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def close(self) -> None:
        self._finalizer()


def _init(loader_class: type, cache_root: str, loader_kwargs: dict, path: str, shape: tuple, dtype: str) -> None:
    # Ctrl-C in a terminal signals the whole process group: the parent decides what to do (the
    # Trainer finishes its iteration and saves), so a worker must not die of it mid-batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked since the spawn (module doc)
    _state["images"] = np.asarray(np.memmap(path, np.dtype(dtype), "r+", shape=shape))
    _state["loader"] = loader_class(load_cache(cache_root), **loader_kwargs)


def _job(epoch: int, start: int, idx: np.ndarray, mosaic: bool, slot: int):
    """Assemble one batch into ring slot ``slot``; return its targets and the truncation count."""
    loader = _state["loader"]
    before = loader.truncated_boxes
    batch = loader.assemble(epoch, start, idx, mosaic, images=_state["images"][slot, : len(idx)])
    return batch.boxes, batch.classes, batch.mask, batch.n_boxes, loader.truncated_boxes - before
