"""Run the web app's ES modules (web/src/*.mjs) under Node, for tests that need no browser."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from yolo_lib.demo.web_setup import WEB_DIR


def node() -> str:
    """The node binary, or skip with how to get it."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("Node.js is not installed (apt-get install -y nodejs): the web app's module tests need it")
    return exe


def run_module_script(body: str, *args: str) -> str:
    """Run an ES-module script that can import ``./letterbox.mjs`` etc.; returns its stdout."""
    script = "\n".join(f"import * as {m} from '{(WEB_DIR / 'src' / (m + '.mjs')).as_uri()}';"
                       for m in ("letterbox", "postprocess", "onnx_metadata", "backend")) + "\n" + body
    proc = subprocess.run([node(), "--input-type=module", "-e", script, "--", *args],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"node failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def run_json(body: str, *args: str):
    return json.loads(run_module_script(body, *args))
