"""Folders that appear complete or not at all, even with several processes building at once.

A dataset folder (the synthetic set, a letterboxed cache) is written into a private, empty
sibling ``.<name>.tmp<random>`` and moved into place with one ``rename``. Two processes that start at once
(two training runs, a test beside a notebook) each build their own copy; the first rename wins,
the other copy is discarded, and nobody ever reads a half-written file. An interrupted build
leaves no partial folder behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


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
