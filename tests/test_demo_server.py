"""The demo server: cross-origin isolation headers, MIME types, no escaping its folders, one-line
errors for a missing model or a busy port, and which weights it serves by default."""

from __future__ import annotations

import json
import os
import socket
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


SECRET = b"a file next to the served folders that must never be served"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    try:
        ensure_node_modules(quiet=True)
    except WebSetupError as e:
        pytest.skip(str(e))
    folder = tmp_path_factory.mktemp("served")
    model = folder / "m.onnx"
    model.write_bytes(b"not really a model")
    (folder / "secret.txt").write_bytes(SECRET)
    files = folder / "files"
    (files / "sub").mkdir(parents=True)
    (files / "image.png").write_bytes(b"an image")
    (files / "out.txt").symlink_to(folder / "secret.txt")  # symlinks out of the mounted folder
    (files / "up").symlink_to(folder, target_is_directory=True)
    server = make_server(model, 0, source="a test", extra_files=files)
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


def raw_request(base: str, method: str, target: str, timeout: float = 30) -> tuple[int, bytes]:
    """Send ``method target`` byte for byte (no client-side normalisation); (status, whole reply)."""
    host, port = base.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


ESCAPES = [
    "/src/../../pyproject.toml", "/src/../../../../../../etc/passwd", "/../../etc/passwd", "/ort/../../src/app.mjs",
    "/src/%2e%2e/%2e%2e/pyproject.toml", "/src/%2E%2E%2F%2E%2E%2Fpyproject.toml", "/src/..%2f..%2fworkshop.py",
    "/src/%252e%252e/%252e%252e/pyproject.toml", "/files/%2e%2e/secret.txt", "/files/..%5csecret.txt",
    "/etc/passwd", "//etc/passwd", "/src//etc/passwd", "/files//etc/passwd", "/src/%2Fetc%2Fpasswd",
    "http://127.0.0.1/../../etc/passwd", "/files/out.txt", "/files/up/secret.txt", "/files/up/files/out.txt",
    "/src/app.mjs%00.png", "/files/%00", "/pyproject.toml", "/web/index.html", "/.git/config",
]


@pytest.mark.parametrize("target", ESCAPES)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_paths_out_of_the_folders_are_not_found(served, method, target):
    status, reply = raw_request(served, method, target)
    assert status in (400, 404), (target, reply[:200])
    assert SECRET not in reply and b"root:" not in reply and b"[project]" not in reply


@pytest.mark.parametrize("target", ["/src/", "/ort/", "/files/", "/files/sub/", "/files/sub", "/files/up/", "/src"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_directory_listings(served, method, target):
    status, reply = raw_request(served, method, target)
    assert status == 404, (target, reply[:300])
    assert b"Directory listing" not in reply and b"app.mjs" not in reply


@pytest.mark.parametrize("target", ["/", "/src/app.mjs", "/files/image.png", "/model.onnx", "/model.json"])
def test_get_and_head_serve_the_same_files(served, target):
    got, head = raw_request(served, "GET", target), raw_request(served, "HEAD", target)
    assert got[0] == head[0] == 200
    length = int(next(line.split(b":")[1] for line in head[1].split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert got[1].endswith(b"\r\n\r\n" + got[1].split(b"\r\n\r\n", 1)[1]) and len(got[1].split(b"\r\n\r\n", 1)[1]) == length
    assert head[1].endswith(b"\r\n\r\n")  # headers only


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"])
def test_only_get_and_head(served, method):
    status, reply = raw_request(served, method, "/src/app.mjs")
    assert status == 405, reply[:200]
    assert b"allow: get, head" in reply.lower()


def test_stays_up_under_hundreds_of_concurrent_requests(served):
    """300 clients at once, plus 100 connections that send nothing: every request is answered."""
    from concurrent.futures import ThreadPoolExecutor

    idle = [socket.create_connection(tuple(served.split("//")[1].strip("/").split(":")[:1])
                                     + (int(served.rsplit(":", 1)[1].strip("/")),)) for _ in range(100)]
    want = get(served + "src/app.mjs")[2]
    try:
        with ThreadPoolExecutor(300) as pool:
            replies = list(pool.map(lambda i: raw_request(served, "GET", ["/src/app.mjs", "/model.json", "/nope"][i % 3]),
                                    range(600)))
    finally:
        for sock in idle:
            sock.close()
    statuses = [status for status, _ in replies]
    assert statuses.count(200) == 400 and statuses.count(404) == 200
    assert all(reply.endswith(want) for status, reply in replies[::3])
    assert get(served + "model.json")[0] == 200  # and it is still up


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
