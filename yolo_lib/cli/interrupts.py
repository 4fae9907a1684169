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
(``os.replace``), so a file under its final name is always whole.
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
def handle_interrupts(what: str, resume_command: str) -> Iterator[InterruptStatus]:
    """Run the block; on SIGINT/SIGTERM print the one-line summary and exit with status 130.

    A signal the process was told to ignore (``nohup``, a background job of a script) stays
    ignored. Signal handlers live in the main thread: called from another thread it only runs the block.
    Outside the block the previous handlers are restored.
    """
    status = InterruptStatus()
    if threading.current_thread() is not threading.main_thread():
        yield status
        return
    previous = {s: signal.signal(s, _raise_keyboard_interrupt) for s in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(s) is not signal.SIG_IGN}  # ignored stays ignored (nohup, `cmd &` in scripts)
    try:
        yield status
    except KeyboardInterrupt:
        for s in previous:  # a second Ctrl-C must not break the message or the exit
            signal.signal(s, signal.SIG_IGN)
        try:
            progress = status.describe()
        except Exception as e:  # noqa: BLE001 - the exit must happen whatever the progress callback does
            progress = f" (progress unknown: {e})"
        sys.stdout.flush()
        print(f"\ninterrupted: {what}{progress}; resume with: {resume_command}", file=sys.stderr, flush=True)
        os._exit(EXIT_INTERRUPTED)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
