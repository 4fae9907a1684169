"""``python -m yolo_lib.demo.setup [--browser]``: what the workshop commands run for the demo.

Installs the web app's npm packages (``npm ci`` in ``web/`` when ``web/node_modules`` is
missing) and, with ``--browser``, Chromium from the system's packages when it is missing and
this is root on Debian (as CI is). Never fails the caller: it prints what is missing and how to
get it, and the browser tests then skip with the same reason.
"""

from __future__ import annotations

import sys

from yolo_lib.demo.browser import HOW_TO_GET, install_chromium_if_possible
from yolo_lib.demo.web_setup import WebSetupError, ensure_node_modules


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        ensure_node_modules()
    except WebSetupError as e:
        print(f"browser demo: {e}")
    if "--browser" in argv and install_chromium_if_possible() is None:
        print(f"browser demo: {HOW_TO_GET}; the browser tests will skip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
