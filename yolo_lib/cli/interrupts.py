"""Ctrl-C (SIGINT) and SIGTERM for long commands: stop at once, say how to resume, exit 130.

    with handle_interrupts("COCO download", "python -m yolo_lib.data build ...") as status:
        ...                                  # long work; may set status.progress = "12 images done"

Inside the block both signals raise :class:`KeyboardInterrupt` in the main thread, so ``finally``
blocks and ``except`` clauses of the work run their cleanup (cancel pending jobs, delete
temporary files). The context manager then prints one line to stderr::

    interrupted: COCO download (12 images done); resume with: python -m yolo_lib.data build ...

and ends the process with ``os._exit(130)``: worker threads still blocked in a network read or
a decode are abandoned rather than waited for (a normal interpreter exit joins them). Work that
must not be left half-written therefore writes to a temporary name and renames it when complete
(:mod:`yolo_lib.files`), so a file under its final name is always whole.

:func:`signal_handlers` is the one place that installs handlers for both signals (here, and for
the Trainer's "finish this iteration, then save"): only in the main thread, and never for a
signal the process was told to ignore.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EXIT_INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)


@dataclass
class InterruptStatus:
    """What the interrupted line reports: ``progress`` is set by the work (free text, may be a callable)."""

    progress: str | Callable[[], str] = ""

    def describe(self) -> str:
        text = self.progress() if callable(self.progress) else self.progress
        return f" ({text})" if text else ""


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def signal_handlers(handler, signals=(signal.SIGINT, signal.SIGTERM)) -> Iterator[list | None]:
    """Call ``handler(signum, frame)`` on ``signals`` inside the block; the previous handlers come
    back after it. A signal the process was told to ignore (``nohup``, a background job of a
    script) stays ignored. Handlers live in the main thread: from another thread nothing changes.
    Yields the signals handled, or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = {s: signal.signal(s, handler) for s in signals if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield list(previous)
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextmanager
def handle_interrupts(what: str, resume_command: str) -> Iterator[InterruptStatus]:
    """Run the block; on SIGINT/SIGTERM print the one-line summary and exit with status 130
    (signals as :func:`signal_handlers` installs them; from another thread it only runs the block).
    Outside the block the previous handlers are restored.
    """
    status = InterruptStatus()
    with signal_handlers(_raise_keyboard_interrupt) as handled:
        if handled is None:
            yield status
            return
        try:
            yield status
        except KeyboardInterrupt:
            for s in handled:  # a second Ctrl-C must not break the message or the exit
                signal.signal(s, signal.SIG_IGN)
            try:
                progress = status.describe()
            except Exception as e:  # noqa: BLE001 - the exit must happen whatever the progress callback does
                progress = f" (progress unknown: {e})"
            sys.stdout.flush()
            print(f"\ninterrupted: {what}{progress}; resume with: {resume_command}", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
