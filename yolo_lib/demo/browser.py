"""Locate (or install) Debian's Chromium for the browser tests and the notebook's screenshot.

Playwright (pip) drives the system Chromium through ``executable_path``; ``playwright install``
is not needed. The real binary is ``/usr/lib/chromium/chromium`` (``/usr/bin/chromium`` is a
shell wrapper). Running as root needs ``--no-sandbox``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from yolo_lib.settings import chromium_override

CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser")
HOW_TO_GET = ("Chromium not found: on Debian/Ubuntu run `sudo apt-get install -y chromium` "
              "(or set YOLO_CHROMIUM to a Chromium/Chrome binary), and `pip install playwright`")


def find_chromium() -> Path | None:
    """``$YOLO_CHROMIUM``, else the system Chromium binary, else None."""
    chosen = chromium_override()
    for c in ([str(chosen)] if chosen else []) + list(CANDIDATES):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    return None


def install_chromium_if_possible() -> Path | None:
    """When Chromium is missing and this is root on a Debian-like system, ``apt-get install chromium``.

    Returns the binary or None (not root, no apt, or the install failed: the browser tests skip).
    """
    found = find_chromium()
    if found or os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    print("installing Chromium for the browser tests: apt-get install -y chromium", flush=True)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode != 0:
            print(f"`{' '.join(cmd)}` failed: the browser tests will skip", flush=True)
            return None
    return find_chromium()


def launch_args(*extra: str) -> list[str]:
    """Chromium flags: no sandbox as root, plus ``extra``."""
    args = ["--no-sandbox"] if os.name == "posix" and os.geteuid() == 0 else []
    return args + list(extra)


def launch(playwright, *extra: str, headless: bool = True):
    """A Playwright ``Browser`` on the system Chromium (raises RuntimeError with HOW_TO_GET if missing)."""
    exe = find_chromium()
    if exe is None:
        raise RuntimeError(HOW_TO_GET)
    return playwright.chromium.launch(executable_path=str(exe), headless=headless, args=launch_args(*extra))


@contextlib.contextmanager
def demo_page(model, files=None, *chromium_flags: str, query: str = "", timeout_ms: int = 240_000):
    """The demo page in headless Chromium, served with ``model`` (``files`` under /files/), once ready.

    Yields the Playwright page; ``window.demo`` is the page's API. Raises RuntimeError if a script
    error happened in the page. ``timeout_ms`` bounds each wait (session creation and a YOLO11n
    frame take seconds, much more on a loaded machine).
    """
    from playwright.sync_api import sync_playwright

    from yolo_lib.demo.server import make_server, serve_in_background

    server = make_server(model, 0, extra_files=files)
    url = serve_in_background(server)
    try:
        with sync_playwright() as p:
            chromium = launch(p, *chromium_flags)
            try:
                page = chromium.new_page()
                page.set_default_timeout(timeout_ms)
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url + query)
                page.evaluate("window.demo.ready")
                yield page
                if errors:
                    raise RuntimeError(f"errors in the page: {errors}")
            finally:
                chromium.close()
    finally:
        server.shutdown()
        server.server_close()


def screenshot_still_image(model, files, image_name: str, fallback_conf: float | None = None) -> dict:
    """Open the demo page, detect on ``files/image_name``, take a screenshot.

    When no box reaches the default threshold and ``fallback_conf`` is given, NMS is re-run at
    that threshold (random weights rarely reach 0.25). Returns {"png": bytes, "result": the
    page's detections and timings, "stats": window.demo.stats()}. Runs Playwright's sync API on
    a worker thread, so it also works inside Jupyter (whose own asyncio loop is running).
    """
    from concurrent.futures import ThreadPoolExecutor

    def work() -> dict:
        with demo_page(model, files) as page:
            result = page.evaluate(f"window.demo.detectImageUrl('/files/{image_name}')")
            if not result["detections"] and fallback_conf is not None:
                result = page.evaluate(f"window.demo.redetect({fallback_conf!r})")
            return {"result": result, "stats": page.evaluate("window.demo.stats()"),
                    "png": page.screenshot(full_page=True)}

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


if __name__ == "__main__":
    print(install_chromium_if_possible() or HOW_TO_GET)
