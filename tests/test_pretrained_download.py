"""``python -m yolo_lib.data download-weights`` against a server on 127.0.0.1: downloaded once,
SHA-256 checked, a wrong checksum leaves no file, the URL comes from ``$YOLO_WEIGHTS_URL``."""

from __future__ import annotations

import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from yolo_lib.weights import pretrained
from yolo_lib.data.__main__ import main as cli_main
from yolo_lib.data.download import DownloadError

CKPT = Path(__file__).parent / "data" / "yolo11_w8_nc80.pt"
SHA = hashlib.sha256(CKPT.read_bytes()).hexdigest()


class Quiet(SimpleHTTPRequestHandler):
    requests = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests += 1
        super().do_GET()


@pytest.fixture
def server():
    handler = type("H", (Quiet,), {"requests": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(CKPT.parent)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{CKPT.name}", handler
    httpd.shutdown()


def test_cli_downloads_once_into_the_data_dir(server, tmp_path, monkeypatch, capsys):
    url, handler = server
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YOLO_WEIGHTS_URL", url)
    monkeypatch.setenv("YOLO_WEIGHTS_SHA256", SHA)
    assert pretrained.find_weights() is None
    assert cli_main(["download-weights"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "downloaded" and summary["sha256"] == SHA
    assert pretrained.find_weights() == tmp_path / "yolo11n.pt"
    assert (tmp_path / "yolo11n.pt").read_bytes() == CKPT.read_bytes()
    assert cli_main(["download-weights"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "already present" and handler.requests == 1
    sd = pretrained.official_state_dict(verbose=True)
    assert "official COCO weights" in capsys.readouterr().out
    assert sd["model.23.cv3.0.2.weight"].shape[0] == 2  # person, cell phone


def test_wrong_checksum_leaves_no_file(server, tmp_path, capsys):
    url, _ = server
    dest = tmp_path / "yolo11n.pt"
    with pytest.raises(DownloadError, match="SHA-256"):
        pretrained.download_weights(dest, url, "0" * 64)
    assert not dest.exists() and not dest.with_name("yolo11n.pt.part").exists()
    assert cli_main(["download-weights", "--out", str(dest), "--url", url, "--sha256", "0" * 64]) == 1
    assert "SHA-256" in capsys.readouterr().err


def test_default_is_the_official_asset_and_fallback_is_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("YOLO_WEIGHTS_URL", raising=False)
    monkeypatch.delenv("YOLO_WEIGHTS_SHA256", raising=False)
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    assert pretrained.weights_url().endswith("/v8.3.0/yolo11n.pt") and len(pretrained.weights_sha256()) == 64
    assert pretrained.official_state_dict() is None
    assert "falling back" in capsys.readouterr().out


def test_an_80_class_checkpoint_becomes_person_and_cell_phone(tmp_path, capsys):
    """What notebook 10 (ONNX parity) does with YOLO_WEIGHTS: .pt or .npz, 80 classes -> 2."""
    import numpy as np

    sd = pretrained.workshop_state_dict(CKPT)
    assert "keeping [0, 67]" in capsys.readouterr().out
    assert sd["model.23.cv3.2.2.bias"].shape == (2,)
    npz = tmp_path / "coco80.npz"
    np.savez(npz, **{f"state_dict/{k}": v for k, v in pretrained.workshop_state_dict(CKPT, class_ids=range(80)).items()})
    again = pretrained.workshop_state_dict(npz)
    for k in sd:
        np.testing.assert_array_equal(again[k], sd[k])
