"""Executed notebooks are clean: no warnings, tracebacks, progress bars or long text dumps.

nbmake (CI) only checks that the notebooks run; here the cheapest notebook (00, which still
imports JAX and PyTensor, compiles a function and draws the model map) is executed with
nbclient and every output is scanned.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MAX_LINES = 40


def output_problems(nb) -> list[str]:
    """One line per unclean output of an executed notebook (empty list: clean)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            text = out.get("text", "") if kind == "stream" else ""
            first = text.strip().splitlines()[0][:120] if text.strip() else ""
            if kind == "error":
                problems.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            elif kind == "stream" and out.get("name") == "stderr":
                problems.append(f"cell {i} writes to stderr: {first!r}")
            elif "Warning" in text:
                problems.append(f"cell {i} prints a warning: {first!r}")
            elif text.count("\n") > MAX_LINES:
                problems.append(f"cell {i} prints {text.count(chr(10))} lines (> {MAX_LINES})")
    return problems


def test_output_problems_finds_warnings_dumps_and_bars():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something\n"),
        nbformat.v4.new_output("stream", name="stdout", text="x\n" * 61),
        nbformat.v4.new_output("stream", name="stdout", text="DeprecationWarning: old\n"),
        nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[]),
    ]
    nb.cells.append(cell)
    problems = output_problems(nb)
    assert len(problems) == 4, problems
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="all fine\n")]
    assert output_problems(nb) == []


def test_setup_notebook_output_is_clean(monkeypatch):
    monkeypatch.setenv("YOLO_PROFILE", "smoke")
    nb = nbformat.read(NOTEBOOKS / "00_setup.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert output_problems(nb) == []
