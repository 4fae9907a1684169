"""The demo server: cross-origin isolation headers, MIME types, no escaping its folders, one-line
errors for a missing model or a busy port, and which weights it serves by default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

from yolo_lib.demo import model_choice
from yolo_lib.demo.server import DemoServerError, make_server, serve_in_background
from yolo_lib.demo.web_setup import WebSetupError, ensure_node_modules
from yolo_lib.task import CLASS_NAMES, IMGSZ


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    try:
        ensure_node_modules(quiet=True)
    except WebSetupError as e:
        pytest.skip(str(e))
    folder = tmp_path_factory.mktemp("served")
    model = folder / "m.onnx"
    model.write_bytes(b"not really a model")
    server = make_server(model, 0, source="a test")
    url = serve_in_background(server)
    yield url
    server.shutdown()
    server.server_close()


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers, r.read()


@pytest.mark.parametrize("path,mime", [
    ("", "text/html"), ("src/app.mjs", "text/javascript"), ("ort/ort.min.mjs", "text/javascript"),
    ("ort/ort-wasm-simd-threaded.wasm", "application/wasm"), ("model.onnx", "application/octet-stream"),
    ("model.json", "application/json"),
])
def test_mime_types_and_isolation_headers(served, path, mime):
    status, headers, _ = get(served + path)
    assert status == 200 and headers["Content-Type"].startswith(mime)
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_model_and_its_description(served):
    assert get(served + "model.onnx")[2] == b"not really a model"
    assert json.loads(get(served + "model.json")[2]) == {"name": "m.onnx", "source": "a test"}


@pytest.mark.parametrize("path", ["src/../../pyproject.toml", "src/", "ort/../../../package.json", "workshop.py"])
def test_nothing_outside_the_served_folders(served, path):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(served + path)
    assert e.value.code == 404


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yolo_lib.demo", *args], capture_output=True, text=True, timeout=120)


def test_missing_model_is_one_line(tmp_path):
    proc = run_cli("--model", str(tmp_path / "nope.onnx"))
    assert proc.returncode == 1 and proc.stderr.strip() == f"error: no model file at {tmp_path / 'nope.onnx'}"


def test_busy_port_is_one_line(served, tmp_path):
    port = int(served.rsplit(":", 1)[1].strip("/"))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    with pytest.raises(DemoServerError, match=f"port {port} is in use"):
        make_server(model, port)
    proc = run_cli("--model", str(model), "--port", str(port))
    assert proc.returncode == 1 and proc.stderr.strip() == f"error: port {port} is in use: pick another with --port"


def test_default_model_prefers_the_latest_run(tmp_path, monkeypatch):
    exported = []

    def fake_export(weights, out, names=CLASS_NAMES, imgsz=IMGSZ):
        exported.append((weights, out))
        return out

    monkeypatch.setattr(model_choice, "export_weights", fake_export)
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(model_choice, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(model_choice, "fixture_path", lambda name: None)
    seeded = model_choice.default_model()
    assert exported[-1][0] is None and "seeded" in seeded.source and seeded.kind == "seeded"
    for name, mtime in (("old", 1_000), ("new", 2_000)):
        best = tmp_path / "runs" / name / "weights" / "best.npz"
        best.parent.mkdir(parents=True)
        np.savez(best, x=np.zeros(1))
        os.utime(best, (mtime, mtime))
    choice = model_choice.default_model()
    assert exported[-1][0] == tmp_path / "runs" / "new" / "weights" / "best.npz"
    assert choice.onnx_path.name == "best.onnx" and "trained weights of run new" in choice.source
    assert choice.kind == "trained" and {seeded.kind, choice.kind} <= set(model_choice.KINDS)



def test_setup_says_how_to_get_npm_and_chromium(tmp_path, monkeypatch):
    from yolo_lib.demo import browser, web_setup

    monkeypatch.setattr(web_setup.shutil, "which", lambda name: None)
    with pytest.raises(WebSetupError, match="npm is not installed"):
        ensure_node_modules(tmp_path)
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)  # not root: never runs apt-get
    assert browser.install_chromium_if_possible() is None
    assert "apt-get install -y chromium" in browser.HOW_TO_GET
