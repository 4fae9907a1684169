"""How every ``python -m yolo_lib.<package>`` command ends: one JSON summary, or one line of error.

    def main(argv=None) -> int:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = parse_args(argv)             # argparse: a usage error exits 2 with its usage line
        return run_command(lambda status: work(args, status), errors=(MyError,),
                           interrupts=("my work", "python -m yolo_lib.mine " + shlex.join(argv)))

``work(status)`` does the job and returns its summary (a JSON-able dict), or an
:class:`Outcome` whose ``ok`` is False when the job ran but its result failed a check (a parity
check of the export, a parity report). With ``interrupts`` it runs inside
:func:`~yolo_lib.cli.interrupts.handle_interrupts` (``status`` is its
:class:`~yolo_lib.cli.interrupts.InterruptStatus`; else ``status`` is None).

Exit status, the same for every command: 0 done (the summary on stdout); 1 an error (one line
``error: ...`` on stderr, no traceback: a :class:`CommandError`, or an exception of ``errors``)
or a result that failed its checks (the summary is printed all the same); 130 interrupted
(Ctrl-C / SIGTERM: one line with the command that resumes, :mod:`yolo_lib.cli.interrupts`, or
a :class:`CommandInterrupted` whose message says what was saved).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from yolo_lib.cli.interrupts import EXIT_INTERRUPTED, handle_interrupts

EXIT_OK, EXIT_FAILED = 0, 1
MAX_LINE = 400  # characters of an error line


class CommandError(Exception):
    """A command's error for its user: what is wrong and, where it helps, what to do (one line)."""


class CommandInterrupted(KeyboardInterrupt):
    """The command stopped on request and saved its state; the message says how to continue."""


@dataclass(frozen=True)
class Outcome:
    """A summary and whether the result passed its checks (exit status 0 or 1)."""

    summary: dict
    ok: bool = True


def one_line(error: BaseException) -> str:
    """The error's message on one line (its lines joined with "; "), at most :data:`MAX_LINE` long."""
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


def run_command(work: Callable[[object], dict | Outcome], errors: tuple[type[BaseException], ...] = (),
                interrupts: tuple[str, str] | None = None, indent: int | None = None) -> int:
    """Run ``work`` and print its summary as JSON (``indent`` as :func:`json.dumps`); see module
    docstring. Returns the exit status."""
    try:
        with handle_interrupts(*interrupts) if interrupts else nullcontext() as status:
            result = work(status)
    except CommandInterrupted as e:
        print(str(e), file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CommandError, *errors) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_FAILED
    outcome = result if isinstance(result, Outcome) else Outcome(result)
    print(json.dumps(outcome.summary, indent=indent, default=float))
    return EXIT_OK if outcome.ok else EXIT_FAILED
