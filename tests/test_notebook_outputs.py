"""Executed notebooks are clean: no warnings, tracebacks, progress bars, dumps or skipped sections.

The scan itself (:func:`yolo_lib.notebook.outputs.output_problems`) runs on every notebook that
nbmake executes, through the repository's ``conftest.py``: CI's one nbmake run checks all the
notebooks' outputs. Here: every rule fires on a planted output and stays quiet on clean ones,
and the hook really fails a notebook (a tiny one, run by nbmake in a subprocess).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from yolo_lib.notebook.outputs import MAX_CHARS, MAX_LINES, output_problems

REPO = Path(__file__).resolve().parent.parent


def notebook_with(*outputs, source: str = "x = 1") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = list(outputs)
    nb.cells.append(cell)
    return nb


def stream(text: str, name: str = "stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def result(text: str, **more):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text, **more}, execution_count=1)


UNCLEAN = {
    "error": (nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[]), "ValueError: bad"),
    "stderr": (stream("anything\n", name="stderr"), "writes to stderr"),
    "warning": (stream("DeprecationWarning: old\n"), "prints a warning"),
    "carriage return": (stream("step 1\rstep 2\r"), "progress bar"),
    "tqdm text bar": (stream("train:  37%|###7      | 37/100 [00:01<00:02, 31.2it/s]\n"), "progress bar"),
    "long stream": (stream("x\n" * (MAX_LINES + 1)), "lines"),
    "long line": (stream("1, " * MAX_CHARS), "characters"),
    "long result": (result("[" + "0.5, " * MAX_CHARS + "]"), "characters"),
    "skipped": (stream("this section needs the weights: skipped\n"), "did not run"),
    "skipping": (stream("Skipping the browser\n"), "did not run"),
    "not available": (stream("Chromium is not available here\n"), "did not run"),
    "non-empty skipped list": (stream("{'images': 3, 'skipped': [{'file_name': 'a.jpg'}]}\n"), "did not run"),
}


@pytest.mark.parametrize("kind", UNCLEAN)
def test_each_unclean_output_is_named(kind):
    output, phrase = UNCLEAN[kind]
    problems = output_problems(notebook_with(output, source="print(things)"))
    assert len(problems) == 1 and phrase in problems[0], problems
    assert problems[0].startswith("cell 0 ('print(things)')")


def test_clean_outputs_pass():
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0}}
    clean = notebook_with(
        stream("all fine\n" * MAX_LINES),
        stream("{'images': 7, 'skipped': []}\n"),  # a summary saying that nothing was skipped
        result("<Figure size 640x480 with 1 Axes>"),
        nbformat.v4.new_output("display_data", data={"text/plain": "  0%|          | 0/128 [00:00<?, ?img/s]",
                                                     **widget}),  # a tqdm.auto bar, drawn as a widget
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
    )
    assert output_problems(clean) == []


def test_the_nbmake_hook_fails_an_unclean_notebook_and_passes_a_clean_one(tmp_path):
    """The repository's conftest.py, run by nbmake on two one-cell notebooks: the one that warns
    fails, naming the cell; the clean one passes; both are written to --executed-notebooks."""
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    for name, source in (("clean", "print('fine')"), ("warns", "import warnings\nwarnings.warn('careful')")):
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        nb.cells.append(nbformat.v4.new_code_cell(source))
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    kept = tmp_path / "executed"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                           "--executed-notebooks", str(kept), "clean.ipynb", "warns.ipynb"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1 and "1 failed, 1 passed" in out, out[-3000:]
    assert "warns.ipynb ran without error, but its outputs are not clean" in out
    assert "cell 0 ('import warnings') writes to stderr" in out and "UserWarning: careful" in out
    assert sorted(p.name for p in kept.glob("*.ipynb")) == ["clean.ipynb", "warns.ipynb"]
    executed = nbformat.read(kept / "clean.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "fine\n"
