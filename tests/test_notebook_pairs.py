"""Every notebook pair is in sync and the .ipynb carries no outputs (and the check can fail)."""

import shutil

import nbformat
import pytest

from yolo_lib.notebook.pairs import NOTEBOOK_DIR, SYNC_COMMAND, notebook_pairs, pair_problems, write_ipynb

PAIRS = notebook_pairs()


def test_there_are_notebooks():
    assert PAIRS, f"no notebooks found in {NOTEBOOK_DIR}"
    orphans = [p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb") if not p.with_suffix(".py").exists()]
    assert not orphans, f"notebooks without a .py source: {orphans}"


@pytest.mark.parametrize("py,ipynb", PAIRS, ids=[p.stem for p, _ in PAIRS])
def test_pair_in_sync_without_outputs(py, ipynb):
    problems = pair_problems(py, ipynb)
    assert not problems, "\n".join(problems)


@pytest.fixture
def copied_pair(tmp_path):
    py, ipynb = PAIRS[0]
    dst_py, dst_nb = tmp_path / py.name, tmp_path / ipynb.name
    shutil.copy(py, dst_py)
    shutil.copy(ipynb, dst_nb)
    return dst_py, dst_nb


def test_check_fails_on_an_edited_py(copied_pair):
    py, ipynb = copied_pair
    assert pair_problems(py, ipynb) == []
    py.write_text(py.read_text() + "\n# %%\nprint('a cell added to the .py only')\n")
    (problem,) = pair_problems(py, ipynb)
    assert ipynb.name in problem and "out of sync" in problem and SYNC_COMMAND in problem
    write_ipynb(py, ipynb)
    assert pair_problems(py, ipynb) == []


def test_check_fails_on_outputs(copied_pair):
    py, ipynb = copied_pair
    nb = nbformat.read(ipynb, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nbformat.write(nb, ipynb)
    (problem,) = pair_problems(py, ipynb)
    assert "carries outputs" in problem
