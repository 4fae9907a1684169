"""Files and folders that appear complete or not at all: the one way yolo_lib writes them.

* :func:`atomic_path` (and :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_savez`): the content is written to a temporary sibling, flushed to disk and
  renamed over the final name (``os.replace``), so a crash, a Ctrl-C or a full disk at any
  moment leaves either the old file or the new one, never a part. An error deletes the
  temporary file, unless ``keep_partial`` (a resumable download keeps its ``.part``).
* :func:`build_folder_atomically`: a dataset folder (the synthetic set, a letterboxed cache) is
  written into a private, empty sibling ``.<name>.tmp<random>`` and moved into place with one
  ``rename``. Two processes that start at once (two training runs, a test beside a notebook)
  each build their own copy; the first rename wins, the other copy is discarded, and nobody ever
  reads a half-written file. An interrupted build leaves no partial folder behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(final: str | Path, part: str | Path | None = None, keep_partial: bool = False,
                durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` to write to; when the block ends without an error the
    file is renamed to ``final``. ``part``: the temporary name (default ``.<name>.tmp<pid>`` beside
    it, so two processes never share one); on an error it is deleted unless ``keep_partial``.
    ``durable``: fsync the file before the rename and the folder after it, so that a power cut
    cannot leave an empty file under the final name either (off for bulk data that is checked
    when read again, such as downloaded images). The folder of ``final`` is created if needed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(part) if part is not None else final.with_name(f".{final.name}.tmp{os.getpid()}")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        if not keep_partial:
            tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_folder(final.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    return atomic_write_bytes(path, text.encode())


def atomic_savez(path: str | Path, arrays: dict) -> Path:
    """``np.savez`` of ``arrays`` to ``path`` (the name is kept as given) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)


def build_folder_atomically(final: str | Path, build: Callable[[Path], object],
                            is_wanted: Callable[[Path], bool]) -> Path:
    """Make ``final`` hold what ``build(folder)`` writes into an empty ``folder``, unless it already does.

    ``is_wanted(folder)`` says whether a complete folder is the one wanted (e.g. its metadata
    matches the settings); an existing folder that is not wanted (stale, or an incomplete
    leftover of an older version) is replaced. Returns ``final``.
    """
    final = Path(final)
    if final.exists() and is_wanted(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp", dir=final.parent))
    try:
        build(tmp)
        if final.exists() and not is_wanted(final):
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:  # another process moved its complete copy into place first
            if not is_wanted(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
