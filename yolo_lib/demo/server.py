"""A static HTTP server for the demo: the web app, onnxruntime-web's files and one ONNX model.

Routes: ``/`` (``web/index.html``), ``/src/*`` (the page's ES modules), ``/ort/*``
(``web/node_modules/onnxruntime-web/dist``), ``/model.onnx`` (the chosen model) and
``/model.json`` (its name and where its weights came from). Every response carries the
cross-origin isolation headers that wasm threads need (COOP ``same-origin``, COEP
``require-corp``) and an explicit MIME type (``.mjs`` as JavaScript, ``.wasm`` as
``application/wasm``). Extra files (e.g. test images) can be mounted under ``/files/``.

Nothing else is served: a path that resolves (``..``, its percent-encodings, symlinks) outside
its folder, a directory, or a file that does not exist is a 404, for GET and HEAD alike; any
other method gets 405 with ``Allow: GET, HEAD``. Idle connections are closed after
:data:`IDLE_TIMEOUT_S` seconds, and the listening socket queues :data:`LISTEN_BACKLOG`
connections, so hundreds of clients at once are all answered.
"""

from __future__ import annotations

import errno
import getpass
import io
import json
import socket
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from yolo_lib.demo.web_setup import ORT_DIST, WEB_DIR

MIME_TYPES = {
    ".html": "text/html; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".json": "application/json", ".wasm": "application/wasm",
    ".onnx": "application/octet-stream", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".y4m": "application/octet-stream", ".map": "application/json",
}
IDLE_TIMEOUT_S = 30
LISTEN_BACKLOG = 512
ALLOWED_METHODS = "GET, HEAD"
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class DemoServerError(RuntimeError):
    """A one-line reason the server cannot start (missing model, port in use...)."""


class DemoHandler(SimpleHTTPRequestHandler):
    """Maps the demo's URL prefixes to folders; adds isolation headers; GET and HEAD only, no
    directory listings."""

    timeout = IDLE_TIMEOUT_S  # seconds a connection may stay silent

    def __init__(self, *args, model: Path, model_info: dict, mounts: dict[str, Path], **kw):
        self.model, self.model_info, self.mounts = model, model_info, mounts
        super().__init__(*args, directory=str(WEB_DIR), **kw)

    def translate_path(self, path: str) -> str:
        """The file a URL names, or "" when it names nothing that is served."""
        url = unquote(urlsplit(path).path)
        if url in ("/", "/index.html"):
            return str(WEB_DIR / "index.html")
        if url == "/model.onnx":
            return str(self.model)
        for prefix, root in self.mounts.items():
            if url.startswith(prefix):
                try:
                    target = (root / url[len(prefix):]).resolve()
                except (ValueError, OSError):  # a NUL byte, a symlink loop
                    return ""
                return str(target) if target.is_relative_to(root.resolve()) and target.is_file() else ""
        return ""

    def send_head(self):
        """Headers for GET and HEAD alike; the body's file object (None after an error)."""
        if unquote(urlsplit(self.path).path) == "/model.json":
            body = json.dumps(self.model_info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        path = self.translate_path(self.path)
        if not path or not Path(path).is_file():
            self.send_error(404, "not found")
            return None
        return super().send_head()

    def __getattr__(self, name: str):
        # http.server looks up do_<METHOD>; every method but GET and HEAD is refused the same way
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self):
        self.send_response(405)
        self.send_header("Allow", ALLOWED_METHODS)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def guess_type(self, path) -> str:
        return MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")

    def end_headers(self):
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: the notebook and the tests share the output
        pass


class DemoServer(ThreadingHTTPServer):
    """One thread per connection, a deep listen queue, and a client that hangs up is no error."""

    request_queue_size = LISTEN_BACKLOG

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"demo server: {type(error).__name__} while answering {client_address[0]}: {error}", file=sys.stderr)


def make_server(model: str | Path, port: int = 8000, host: str = "127.0.0.1", source: str = "",
                extra_files: Path | None = None) -> ThreadingHTTPServer:
    """A bound (not yet serving) server for ``model``; ``port=0`` picks a free port."""
    model = Path(model)
    if not model.is_file():
        raise DemoServerError(f"no model file at {model}")
    if not (ORT_DIST / "ort.min.mjs").exists():
        raise DemoServerError(f"onnxruntime-web is not installed in {WEB_DIR / 'node_modules'}: run `npm ci` in {WEB_DIR}")
    mounts = {"/src/": WEB_DIR / "src", "/ort/": ORT_DIST}
    if extra_files is not None:
        mounts["/files/"] = Path(extra_files)
    info = {"name": model.name, "source": source or str(model)}
    handler = partial(DemoHandler, model=model, model_info=info, mounts=mounts)
    try:
        return DemoServer((host, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise DemoServerError(f"port {port} is in use: pick another with --port") from None
        raise DemoServerError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def serve_in_background(server: ThreadingHTTPServer) -> str:
    """Start ``server`` on a daemon thread; returns its URL."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server_url(server)


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def tunnel_hint(port: int) -> str:
    """The SSH command that forwards the demo's port from a remote machine (e.g. a Lambda instance)."""
    return f"ssh -N -L {port}:127.0.0.1:{port} {getpass.getuser()}@<address of {socket.gethostname()}>"
