#!/usr/bin/env python3
"""The workshop's set-up commands (need only Python 3.11+):

    python3 workshop.py lab     # create .venv if missing, install, start JupyterLab on notebooks/
    python3 workshop.py test    # the whole test suite: unit tests + every notebook (nbmake)

Also: ``python3 workshop.py sync`` regenerates every notebooks/NN_topic.ipynb from its .py twin.
The commands are idempotent: a second run reuses .venv and skips installs whose inputs
(pyproject.toml) did not change. ``WORKSHOP_VENV=/path/to/env`` uses that existing environment
as it is instead (nothing created or installed; e.g. a conda env or CI's own venv).

``lab`` options (anything else goes to ``jupyter lab``):

    --headless     no browser (also WORKSHOP_HEADLESS=1), for a remote machine: use the SSH tunnel
    --port N       listen on port N (default: the first free port from 8888)
    --public       listen on all interfaces instead of 127.0.0.1 (the token is then the only protection)

JupyterLab listens on 127.0.0.1 by default and is started with ``--allow-root`` when run as root
(containers, cloud images). Every failure ends in one line: what failed, its exit status, what to do.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 11)
FIRST_PORT, PORTS_TRIED = 8888, 100
# The test command, shared with .ci/run: unit tests and every notebook in one pytest run.
TEST_ARGS = ["-m", "pytest", "--nbmake", "--nbmake-timeout=900", "tests", "notebooks"]


class WorkshopError(Exception):
    """A failed step: its message is the one line printed; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status or 1


def env_dirs() -> tuple[Path, Path, bool]:
    """(environment folder, its python, whether workshop.py manages it) from WORKSHOP_VENV or .venv."""
    chosen = os.environ.get("WORKSHOP_VENV")
    env = Path(chosen).expanduser().resolve() if chosen else ROOT / ".venv"
    bindir = env / ("Scripts" if os.name == "nt" else "bin")
    return env, bindir / ("python.exe" if os.name == "nt" else "python"), not chosen


def start_and_wait(cmd: list, what: str, todo: str, env: dict | None = None) -> int:
    """Run ``cmd`` in the repository and return its exit status (negative: the signal that ended it).

    Ctrl-C goes to the child alone (the terminal sends it to both): pip, pytest and JupyterLab
    then stop in their own orderly way instead of being killed by this script.
    """
    print("+", " ".join(str(c) for c in cmd), flush=True)
    try:
        proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)
    except OSError as e:
        raise WorkshopError(f"{what} could not start ({e}); {todo}") from None
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # set after the start, so the child keeps Ctrl-C
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def run(cmd: list, what: str, todo: str, env: dict | None = None) -> None:
    """Run ``cmd``; a non-zero exit becomes a :class:`WorkshopError` naming ``what`` and its status."""
    status = start_and_wait(cmd, what, todo, env)
    if status < 0:
        raise WorkshopError(f"{what} was stopped by signal {signal.Signals(-status).name}; {todo}", 128 - status)
    if status != 0:
        raise WorkshopError(f"{what} failed (exit status {status}); {todo}", status)


def check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        raise WorkshopError(f"Python {'.'.join(map(str, MIN_PYTHON))}+ is needed, this is {sys.version.split()[0]}; "
                            "install a newer Python and run workshop.py with it (e.g. python3.11 workshop.py lab)")


def ensure_env(extras: str = "dev") -> Path:
    """The environment's python: .venv created when missing and the package installed editable
    with ``extras``; or the WORKSHOP_VENV environment, used as it is."""
    check_python()
    env, py, managed = env_dirs()
    if not managed:
        if not py.exists():
            raise WorkshopError(f"WORKSHOP_VENV={env} has no {py.relative_to(env)}; point it at an existing "
                                "environment with the project installed, or unset it to use .venv")
        return py
    if not py.exists():
        print(f"creating virtual environment {env}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(env)
        except (subprocess.CalledProcessError, OSError) as e:
            shutil.rmtree(env, ignore_errors=True)  # a venv without pip would fail every later run
            status = getattr(e, "returncode", None) or getattr(e, "errno", None) or 1
            raise WorkshopError(f"creating the virtual environment {env} failed (exit status {status}: {e}); "
                                "on Debian/Ubuntu install the venv module (apt install python3-venv), then rerun",
                                status if isinstance(status, int) else 1) from None
    stamp = env / f".installed-{extras}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return py
    todo = "check the network (or proxy) and the messages above, then rerun"
    run([py, "-m", "pip", "install", "--upgrade", "pip"], "upgrading pip", todo)
    run([py, "-m", "pip", "install", "-e", f".[{extras}]"], f"pip install -e .[{extras}]", todo)
    stamp.write_text(digest)
    return py


def parse_lab_args(args: list[str]) -> tuple[bool, bool, int | None, list[str]]:
    """(headless, public, port or None, arguments left for jupyter lab)."""
    headless = os.environ.get("WORKSHOP_HEADLESS") == "1"
    public, port, rest = False, None, []
    items = iter(args)
    for a in items:
        if a == "--headless":
            headless = True
        elif a == "--public":
            public = True
        elif a == "--port" or a.startswith("--port="):
            value = a.split("=", 1)[1] if "=" in a else next(items, "")
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise WorkshopError(f"--port needs a port number (1-65535), got {value!r}", 2)
            port = int(value)
        else:
            rest.append(a)
    return headless, public, port, rest


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, port: int | None) -> int:
    """``port`` when it is free (else an error), or the first free port from 8888."""
    if port is not None:
        if not port_is_free(host, port):
            raise WorkshopError(f"port {port} on {host} is in use; stop what uses it or choose another "
                                "with --port N (leave --port out to take the first free port from 8888)")
        return port
    for candidate in range(FIRST_PORT, FIRST_PORT + PORTS_TRIED):
        if port_is_free(host, candidate):
            return candidate
    raise WorkshopError(f"no free port in {FIRST_PORT}-{FIRST_PORT + PORTS_TRIED - 1} on {host}; "
                        "choose one with --port N")


def setup_browser_demo(py: Path, *flags: str) -> None:
    """npm packages of web/ (with --browser also Chromium when root on Debian); never fails."""
    start_and_wait([py, "-m", "yolo_lib.demo.setup", *flags], "browser-demo set-up", "see its messages above")


def cmd_lab(args: list[str]) -> None:
    headless, public, port, extra = parse_lab_args(args)
    py = ensure_env("dev")
    setup_browser_demo(py)
    host = "0.0.0.0" if public else "127.0.0.1"
    port = choose_port(host, port)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(24)
    lab = [py, "-m", "jupyter", "lab", f"--notebook-dir={ROOT / 'notebooks'}", f"--ip={host}", f"--port={port}",
           "--ServerApp.port_retries=0",  # the port printed below is the port used, or a clear failure
           "--LabApp.news_url=None",  # no "fetch official Jupyter news?" pop-up during the workshop
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if headless:
        lab.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print("note: running as root, so JupyterLab gets --allow-root", flush=True)
        lab.append("--allow-root")
    if public:
        print(f"warning: --public: JupyterLab listens on every interface of this machine on port {port}; "
              "the token is then the only protection", flush=True)
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    print(f"JupyterLab: {url}\n"
          f"from another machine: ssh -N -L {port}:127.0.0.1:{port} USER@THIS_HOST, then open the URL there\n"
          "stop with Ctrl-C", flush=True)
    run(lab + extra, "JupyterLab", "see its messages above, then rerun `python3 workshop.py lab`",
        {**os.environ, "JUPYTER_TOKEN": token})


def cmd_test(args: list[str]) -> None:
    py = ensure_env("dev")
    setup_browser_demo(py, "--browser")
    env = dict(os.environ)
    env.setdefault("YOLO_PROFILE", "smoke")
    status = start_and_wait([py, *TEST_ARGS, *args], "pytest", "rerun `python3 workshop.py test`", env)
    sys.exit(128 - status if status < 0 else status)  # pytest's own summary says what failed


def cmd_sync(args: list[str]) -> None:
    py = ensure_env("dev")
    run([py, str(ROOT / "scripts" / "sync_notebooks.py"), *args], "syncing the notebooks", "see the messages above")


COMMANDS = {"lab": cmd_lab, "test": cmd_test, "sync": cmd_sync}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except WorkshopError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print(f"\ninterrupted: workshop.py {argv[0]}; run it again to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
