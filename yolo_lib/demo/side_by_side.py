"""Show a Python function beside its JavaScript twin from ``web/src`` (for the demo notebook)."""

from __future__ import annotations

import html
import inspect
import re

from yolo_lib.demo.web_setup import WEB_DIR


def js_function(module: str, name: str) -> str:
    """The source of ``export function name`` in ``web/src/<module>``, up to its closing brace."""
    text = (WEB_DIR / "src" / module).read_text()
    m = re.search(rf"^(/\*\*(?:(?!\*/).)*\*/\n)?export (async )?function {name}\(.*?^\}}\n", text, re.S | re.M)
    if m is None:
        raise ValueError(f"no exported function {name} in web/src/{module}")
    return m.group(0)


def side_by_side_html(python_obj, module: str, js_name: str) -> str:
    """An HTML table: the Python object's source on the left, the JavaScript function on the right."""
    cells = [("Python: yolo_lib." + python_obj.__module__.split("yolo_lib.", 1)[-1] + "." + python_obj.__name__,
              inspect.getsource(python_obj)), (f"JavaScript: web/src/{module} {js_name}", js_function(module, js_name))]
    cols = "".join(f"<td style='vertical-align:top;text-align:left'><b>{html.escape(t)}</b>"
                   f"<pre style='font-size:11px'>{html.escape(src)}</pre></td>" for t, src in cells)
    return f"<table><tr>{cols}</tr></table>"
