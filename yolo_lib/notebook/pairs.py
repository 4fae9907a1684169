"""Checks and writes the notebooks' jupytext pairs (NN_topic.py <-> NN_topic.ipynb).

Used by ``scripts/sync_notebooks.py`` and ``tests/test_notebook_pairs.py``.
"""

from __future__ import annotations

from pathlib import Path

from yolo_lib.paths import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
SYNC_COMMAND = "python3 workshop.py sync"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook_pairs(folder: Path = NOTEBOOK_DIR) -> list[tuple[Path, Path]]:
    """(py, ipynb) for every numbered notebook source ``NN_*.py`` in ``folder``."""
    return [(p, p.with_suffix(".ipynb")) for p in sorted(folder.glob("[0-9][0-9]_*.py"))]


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def build_notebook(py: Path):
    """The notebook generated from a percent-format .py file (no outputs, python3 kernel)."""
    import jupytext

    nb = jupytext.read(py)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def pair_problems(py: Path, ipynb: Path) -> list[str]:
    """What is wrong with one pair, as sentences that name the fix; empty when in sync."""
    import nbformat

    fix = f"run `{SYNC_COMMAND}`"
    if not ipynb.exists():
        return [f"{ipynb.name} is missing for {py.name}: {fix}"]
    committed = nbformat.read(ipynb, as_version=4)
    problems = []
    if _cells(build_notebook(py)) != _cells(committed):
        problems.append(f"{ipynb.name} is out of sync with {py.name}: {fix}")
    if any(c.get("outputs") for c in committed.cells if c.cell_type == "code"):
        problems.append(f"{ipynb.name} carries outputs: {fix} (or clear the outputs)")
    return problems


def write_ipynb(py: Path, ipynb: Path) -> None:
    import nbformat

    nbformat.write(build_notebook(py), ipynb)
