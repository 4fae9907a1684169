"""The web app's files and its npm dependencies (onnxruntime-web in ``web/node_modules``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from yolo_lib.paths import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
ORT_DIST = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"


class WebSetupError(RuntimeError):
    """npm is missing or ``npm ci`` failed; the message says what to do."""


def ensure_node_modules(web_dir: Path = WEB_DIR, quiet: bool = False) -> Path:
    """Run ``npm ci`` in ``web_dir`` when onnxruntime-web is not installed there; returns its dist folder."""
    dist = web_dir / "node_modules" / "onnxruntime-web" / "dist"
    if (dist / "ort.min.mjs").exists():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        raise WebSetupError("npm is not installed: install Node.js 18+ (e.g. apt-get install -y npm) "
                            f"then run `npm ci` in {web_dir}")
    if not quiet:
        print(f"installing the web app's packages: npm ci (in {web_dir})", flush=True)
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=web_dir, capture_output=True, text=True)
    if proc.returncode != 0 or not (dist / "ort.min.mjs").exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WebSetupError(f"`npm ci` in {web_dir} failed: {tail[0]}")
    return dist


if __name__ == "__main__":
    print(ensure_node_modules())
