"""Repository-wide pytest hooks: every notebook that nbmake executes must also have clean outputs.

nbmake fails a notebook only when a cell raises. Here each nbmake item runs the notebook the
same way (nbmake's own ``NotebookRun``, same timeout, kernel and ``--overwrite``) and then scans
the executed outputs with :func:`yolo_lib.notebook.outputs.output_problems`: a warning, a
traceback, a text progress bar, a long dump or a section that says it was skipped fails the
notebook's test, naming the cell. So ``python3 workshop.py test`` (and CI) checks all the
notebooks' outputs from the one run that executes them.

``--executed-notebooks DIR`` also writes each executed notebook, outputs included, to DIR (to
look at the figures of a test run).
"""

from __future__ import annotations

import functools
from pathlib import Path

import nbformat


def pytest_addoption(parser):
    parser.addoption("--executed-notebooks", metavar="DIR", default=None,
                     help="write every notebook nbmake executes, with its outputs, to DIR")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "nbmake", False):
            item.runtest = functools.partial(run_notebook_checked, item)


def run_notebook_checked(item) -> None:
    """nbmake's ``NotebookItem.runtest``, then the output scan; failures use nbmake's report."""
    from nbmake.nb_result import NotebookError, NotebookResult
    from nbmake.nb_run import NotebookRun
    from nbmake.pytest_items import NotebookFailedException

    from yolo_lib.notebook.outputs import output_problems

    option = item.config.option
    source = Path(item.config.rootdir) / item.filename
    result = NotebookRun(source, option.nbmake_timeout, verbose=bool(option.verbose), kernel=option.nbmake_kernel,
                         find_import_errors=option.nbmake_find_import_errors).execute()
    if option.executed_notebooks:
        keep = Path(option.executed_notebooks)
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(result.nb, str(keep / source.name))
    if option.overwrite:
        nbformat.write(result.nb, str(source))
    if result.error is not None:
        raise NotebookFailedException(result)
    problems = output_problems(result.nb)
    if problems:
        summary = f"{source.name}: {len(problems)} unclean output(s), first: {problems[0]}"
        trace = "\n".join([f"{source.name} ran without error, but its outputs are not clean:", *problems])
        raise NotebookFailedException(NotebookResult(result.nb, NotebookError(summary, trace, -1)))
