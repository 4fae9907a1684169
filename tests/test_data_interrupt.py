"""Ctrl-C on `python -m yolo_lib.data build`: stops at once, no partial files, says how to resume.

A server on 127.0.0.1 serves the first N requested COCO128 images, then holds every further
request open without sending anything (a stalled server). The build runs in a subprocess; once N
images are on disk it gets SIGINT and must end within 5 s with status 130 and the one-line
message. A rerun with the printed command, the server no longer stalling, completes the set.
"""

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from yolo_lib.data.coco_subset import load_annotations, select_images
from yolo_lib.data.download import DownloadError, download_url, verify_image

N_SERVED, N_IMAGES = 3, 8
ROOT = Path(__file__).resolve().parent.parent


class StallingHandler(SimpleHTTPRequestHandler):
    """Serves the first ``budget`` GETs; later ones wait on ``release`` (a stalled server)."""

    def log_message(self, *args):
        pass

    def translate_path(self, path):
        return str(self.images / path.split("?")[0].rsplit("/", 1)[-1])

    def do_GET(self):
        with self.lock:
            self.state["requests"] += 1
            stall = self.state["requests"] > self.budget
        if stall:
            self.release.wait(60)
        super().do_GET()


def default_sigint():
    """In the child: SIGINT acts as at a terminal even when these tests run with it ignored (`cmd &`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_server(images: Path):
    handler = type("H", (StallingHandler,), {"images": images, "budget": N_SERVED, "release": threading.Event(),
                                             "lock": threading.Lock(), "state": {"requests": 0}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(images)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, handler


def test_sigint_stops_build_at_once_and_rerun_completes(shared, tmp_path):
    images = shared / "data" / "coco128" / "images"
    ann = shared / "data" / "coco128" / "annotations" / "instances_train2017.json"
    coco = load_annotations(ann)
    selected = select_images(coco, ["person", "cell phone"], N_IMAGES, seed=0)
    names = sorted(coco.imgs[i]["file_name"] for i in selected.image_ids)
    httpd, handler = start_server(images)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "YOLO_DATA_DIR": str(tmp_path)}
    out_dir = tmp_path / "coco" / "images" / "train2017"
    proc = None
    try:
        args = ["build", "--split", "train", "--images", str(N_IMAGES), "--annotations", str(ann),
                "--source", f"http://127.0.0.1:{httpd.server_address[1]}/train2017", "--workers", "4",
                "--timeout", "30", "--quiet"]
        proc = subprocess.Popen([sys.executable, "-m", "yolo_lib.data", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_sigint)
        deadline = time.monotonic() + 120
        while len([f for f in out_dir.glob("*.jpg")]) < N_SERVED:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never fetched the served images"
            time.sleep(0.05)
        time.sleep(0.3)  # the stalled requests are in flight now
        assert handler.state["requests"] > N_SERVED
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
        assert elapsed < 5, f"took {elapsed:.1f} s to stop"
        assert proc.returncode == 130, err
        line = err.strip().splitlines()[-1]
        resume = "python -m yolo_lib.data " + shlex.join(args)
        assert line == f"interrupted: data build ({N_SERVED} images done in {out_dir}); resume with: {resume}"
        assert "Traceback" not in err
        left = sorted(p.name for p in out_dir.iterdir())
        assert len(left) == N_SERVED and not any(n.endswith(".part") for n in left), left
        assert all(verify_image(out_dir / n) is None for n in left)

        handler.release.set()  # the server works again: the printed command finishes the set
        handler.budget = 10**6
        cmd = shlex.split(resume)
        rerun = subprocess.run([sys.executable, *cmd[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert sorted(p.name for p in out_dir.iterdir()) == names
        for n in names:
            assert (out_dir / n).read_bytes() == (images / n).read_bytes()
    finally:
        handler.release.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
        httpd.shutdown()
        httpd.server_close()


def test_sigterm_is_handled_like_sigint_by_handle_interrupts(tmp_path):
    """The reusable context manager on its own: SIGTERM while a non-daemon thread is blocked."""
    script = (
        "import sys, threading, time\n"
        "from yolo_lib.cli.interrupts import handle_interrupts\n"
        "with handle_interrupts('demo work', 'python demo.py --again') as status:\n"
        "    status.progress = '2 of 5 steps done'\n"
        "    threading.Thread(target=time.sleep, args=(60,)).start()  # a normal exit would wait for it\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 5
        assert proc.returncode == 130
        assert err.strip() == "interrupted: demo work (2 of 5 steps done); resume with: python demo.py --again"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_stalled_server_fails_the_request_naming_the_host(shared, tmp_path):
    httpd, handler = start_server(shared / "data" / "coco128" / "images")
    handler.budget = 0  # every request stalls
    host = f"127.0.0.1:{httpd.server_address[1]}"
    try:
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=f"server {host} stalled: no data for 0.5 s"):
            download_url(f"http://{host}/train2017/000000000030.jpg", tmp_path / "a.jpg", timeout=0.5)
        assert time.monotonic() - t0 < 5
        assert not (tmp_path / "a.jpg").exists()
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()
