"""Regenerate every notebooks/NN_topic.ipynb from its percent-format .py twin, without outputs.

    python scripts/sync_notebooks.py          # write the .ipynb files
    python scripts/sync_notebooks.py --check  # only report pairs that are out of sync (exit 1)

The .py file is the edited source; the .ipynb is generated (``python3 workshop.py sync``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from yolo_lib.notebook.pairs import notebook_pairs, pair_problems, write_ipynb


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    bad = 0
    for py, ipynb in notebook_pairs():
        problems = pair_problems(py, ipynb)
        if not problems:
            continue
        if check_only:
            bad += 1
            print(f"{ipynb.name}: " + "; ".join(problems))
        else:
            write_ipynb(py, ipynb)
            print(f"wrote {ipynb.relative_to(Path.cwd()) if ipynb.is_relative_to(Path.cwd()) else ipynb}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
