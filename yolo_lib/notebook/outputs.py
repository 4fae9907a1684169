"""What an executed notebook must not show: errors, warnings, progress-bar noise, long dumps, and
sections that say they were skipped.

:func:`output_problems` scans the outputs of an executed notebook (an ``nbformat`` node) and
returns one line per problem. The repository's ``conftest.py`` applies it to every notebook that
nbmake executes, so ``python3 workshop.py test`` (and CI) fails on an unclean notebook without
running any notebook twice; ``tests/test_notebook_outputs.py`` shows that every rule fires.
"""

from __future__ import annotations

import re

MAX_LINES = 40  # a longer output is a dump: print a summary, or plot it
MAX_CHARS = 4000  # the same for one long line (an array repr, a JSON blob)
# tqdm's text bars: "37%|####      | 37/100 [00:01<00:02, 31.2it/s]"
PROGRESS_BAR = re.compile(r"\d+%\|.*\||\d+(\.\d+)?(it|s)/(s|it)\]")
# a fresh clone (YOLO_SHARED_DIR=none) must run every section: no "skipped", no "not available"
# (an empty list of skipped items, as in a dataset summary, says that nothing was skipped)
SKIPPED = re.compile(r"\bskipp(ed|ing)\b|\bnot available\b", re.IGNORECASE)
NOTHING_SKIPPED = re.compile(r"""['"]skipped['"]: \[\]""")


WIDGET = "application/vnd.jupyter.widget-view+json"  # e.g. a tqdm.auto bar, drawn as a widget: fine


def _texts(out) -> list[str]:
    """The plain text an output shows: a stream's text, a result's or display's text/plain (not
    the text fallback of a widget, which JupyterLab never shows)."""
    if out.get("output_type") == "stream":
        return [out.get("text", "")]
    data = out.get("data", {})
    return [data["text/plain"]] if "text/plain" in data and WIDGET not in data else []


def _cell_label(index: int, cell) -> str:
    first = next((line.strip() for line in cell.get("source", "").splitlines() if line.strip()), "")
    return f"cell {index} ({first[:60]!r})"


def _first_line(text: str) -> str:
    stripped = text.strip().replace("\r", "\n")
    return stripped.splitlines()[0][:120] if stripped else ""


def output_problems(nb) -> list[str]:
    """One line per unclean output of an executed notebook (empty list: clean)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            where = _cell_label(i, cell)
            if out.get("output_type") == "error":
                problems.append(f"{where}: {out.get('ename')}: {out.get('evalue')}")
                continue
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                problems.append(f"{where} writes to stderr: {_first_line(out.get('text', ''))!r}")
                continue
            for text in _texts(out):
                skipped = SKIPPED.search(NOTHING_SKIPPED.sub("", text))
                if "Warning" in text:
                    problems.append(f"{where} prints a warning: {_first_line(text)!r}")
                elif "\r" in text or PROGRESS_BAR.search(text):
                    problems.append(f"{where} prints a text progress bar: {_first_line(text)!r}")
                elif text.count("\n") > MAX_LINES:
                    problems.append(f"{where} prints {text.count(chr(10))} lines (> {MAX_LINES})")
                elif len(text) > MAX_CHARS:
                    problems.append(f"{where} prints {len(text)} characters (> {MAX_CHARS})")
                elif skipped:
                    line = next(ln for ln in text.splitlines() if SKIPPED.search(NOTHING_SKIPPED.sub("", ln)))
                    problems.append(f"{where} says part of it did not run ({skipped.group(0)!r}): {line.strip()[:120]!r}")
    return problems
