"""Show ``yolo_lib`` source code on a notebook page (the real code, never a copy)."""

from __future__ import annotations

import inspect
import textwrap


def show_source(*objects) -> None:
    """Display the source of each function, method or class as a highlighted code block.

    In Jupyter the code renders as Markdown; elsewhere (plain Python) it is printed.
    """
    blocks = []
    for obj in objects:
        where = f"{obj.__module__}.{obj.__qualname__}"
        blocks.append(f"`{where}`\n\n```python\n{textwrap.dedent(inspect.getsource(obj)).rstrip()}\n```")
    text = "\n\n".join(blocks)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # IPython is absent: print instead
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
