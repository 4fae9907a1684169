#!/usr/bin/env python3
"""The workshop's two set-up commands (need only Python 3.11+):

    python3 workshop.py lab     # create .venv if missing, install, register kernel, open JupyterLab
    python3 workshop.py test    # the whole test suite: unit tests + every notebook (nbmake)

Also: ``python3 workshop.py sync`` regenerates every notebooks/NN_topic.ipynb from its .py twin.
Both main commands are idempotent: a second run reuses .venv and skips installs whose inputs
(pyproject.toml) did not change. ``lab --headless`` (or WORKSHOP_HEADLESS=1) starts a server
without a browser, listening on all interfaces, for a remote machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
KERNEL_NAME = "yolo-workshop"
# The test command, shared with .ci/run: unit tests and every notebook in one pytest run.
TEST_ARGS = ["-m", "pytest", "--nbmake", "--nbmake-timeout=900", "tests", "notebooks"]


def run(cmd: list, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)


def ensure_env(extras: str = "dev") -> None:
    """Create .venv when missing and install the package editable with ``extras``."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11+ is needed, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    run([PY, "-m", "pip", "install", "--upgrade", "pip"])
    run([PY, "-m", "pip", "install", "-e", f".[{extras}]"])
    stamp.write_text(digest)


def register_kernel() -> None:
    run([PY, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
         "--display-name", "Python (yolo-workshop)"])


def cmd_lab(args: list[str]) -> None:
    ensure_env("dev")
    register_kernel()
    headless = "--headless" in args or os.environ.get("WORKSHOP_HEADLESS") == "1"
    extra = [a for a in args if a != "--headless"]
    lab = [PY, "-m", "jupyter", "lab", f"--notebook-dir={ROOT / 'notebooks'}"]
    if headless:
        lab += ["--no-browser", "--ip=0.0.0.0"]
    run(lab + extra)


def cmd_test(args: list[str]) -> None:
    ensure_env("dev")
    env = dict(os.environ)
    env.setdefault("YOLO_PROFILE", "smoke")
    result = subprocess.run([str(PY), *TEST_ARGS, *args], cwd=ROOT, env=env)
    sys.exit(result.returncode)


def cmd_sync(args: list[str]) -> None:
    ensure_env("dev")
    run([PY, str(ROOT / "scripts" / "sync_notebooks.py"), *args])


COMMANDS = {"lab": cmd_lab, "test": cmd_test, "sync": cmd_sync}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
