"""`workshop.py lab --headless`: a JupyterLab that answers on 127.0.0.1 (also as root), and a one-line
error when the requested port is taken.

Both runs use the environment running these tests (``WORKSHOP_VENV=sys.prefix``), so nothing is
created or installed. The server is queried through its REST API with the token, then stopped.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "workshop-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_env() -> dict:
    env = {**os.environ, "WORKSHOP_VENV": sys.prefix, "JUPYTER_TOKEN": TOKEN}
    env.pop("WORKSHOP_HEADLESS", None)
    return env


def get(url: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


def test_lab_headless_serves_the_notebooks_on_localhost(tmp_path):
    pytest.importorskip("jupyterlab")
    port = free_port()
    env = {**lab_env(), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log_path = tmp_path / "lab.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "workshop.py"), "lab", "--headless", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                specs = json.loads(get(f"{base}/api/kernelspecs"))
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, f"workshop.py lab exited with {proc.returncode}:\n{log_path.read_text()}"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(0.5)
        contents = json.loads(get(f"{base}/api/contents/"))
        notebooks = {c["name"] for c in contents["content"] if c["type"] == "notebook"}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert expected and expected <= notebooks  # (jupytext also lists the paired .py files as notebooks)
        # every notebook asks for a kernel this server has (the environment's own python3)
        kernels = {json.loads((ROOT / "notebooks" / n).read_text())["metadata"]["kernelspec"]["name"] for n in expected}
        assert kernels <= set(specs["kernelspecs"]), (kernels, specs["kernelspecs"])
        page = get(f"{base}/lab")
        assert '"news": {"disabled": true}' in page.replace('"news":{"disabled":true}', '"news": {"disabled": true}')
        out = log_path.read_text()
        assert f"{base}/lab?token={TOKEN}" in out
        assert f"ssh -N -L {port}:127.0.0.1:{port}" in out and "--ip=127.0.0.1 " in out
        if os.geteuid() == 0:
            assert "--allow-root" in out
        with pytest.raises(urllib.error.HTTPError):  # the token is required
            urllib.request.urlopen(f"{base}/api/contents/", timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_lab_on_a_port_in_use_fails_with_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "workshop.py"), "lab", "--headless", "--port", str(port)],
                                env=lab_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is in use; stop what uses it or choose another with --port N "
        "(leave --port out to take the first free port from 8888)")
    assert "Traceback" not in result.stdout + result.stderr
