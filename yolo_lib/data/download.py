"""Fetch only the images a subset needs: parallel, resumable, verified, with a summary.

Sources (``source`` argument of :func:`fetch_images`):

* ``None``: each image's own ``coco_url`` (``http://images.cocodataset.org/<split>/<file>``);
* an ``http(s)://`` base URL: ``<base>/<file_name>``;
* a local folder holding the files (copied);
* a ``.zip`` archive holding the files anywhere inside (extracted one by one; e.g. val2017.zip).

A file already present and intact is not fetched again (resume after an interruption). Every
file is written to ``<name>.part`` and renamed only after verification: the byte count must
equal the announced ``Content-Length`` and Pillow must decode the whole JPEG. A bad download is
retried (``retries`` times), then reported in the summary; it never lands under its final name.

Every network read waits at most ``timeout`` seconds; a server that stops sending fails that
request with a message naming the host. Ctrl-C (KeyboardInterrupt) during :func:`fetch_images`
cancels the pending files, deletes the ``.part`` files of those in flight and re-raises at once,
without waiting for the worker threads (see :mod:`yolo_lib.cli.interrupts` for the exit).
"""

from __future__ import annotations

import http.client
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import urllib.parse
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from yolo_lib.files import atomic_path

ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2017.zip"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be fetched intact."""


@dataclass
class FetchSummary:
    """What :func:`fetch_images` did: counts plus every failure with its reason."""

    requested: int = 0
    downloaded: int = 0
    already_present: int = 0
    refetched_corrupt: int = 0
    failed: list[dict] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "requested": self.requested,
            "downloaded": self.downloaded,
            "already_present": self.already_present,
            "refetched_corrupt": self.refetched_corrupt,
            "failed": self.failed,
            "megabytes": round(self.bytes / 1e6, 2),
            "seconds": round(self.seconds, 2),
        }


def verify_image(path: str | Path) -> str | None:
    """None when ``path`` is a fully decodable image, else the reason it is not."""
    try:
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "missing"
    except (OSError, SyntaxError, ValueError) as e:  # Pillow: truncated/corrupt/unknown format
        return f"corrupt image: {e}"
    return None


def download_url(url: str, dest: str | Path, timeout: float = 60.0, resume: bool = True) -> int:
    """Download ``url`` to ``dest`` via ``dest.part``; returns the bytes received in this call.

    With ``resume`` an existing ``.part`` is continued with an HTTP Range request (restarted when
    the server ignores it). Raises :class:`DownloadError` when the body is shorter than its
    ``Content-Length`` or the connection fails.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if resume and part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    received = 0
    with atomic_path(dest, part, keep_partial=resume, durable=resume) as part:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                append = have > 0 and resp.status == 206
                expected = resp.headers.get("Content-Length")
                with open(part, "ab" if append else "wb") as f:
                    while chunk := resp.read(CHUNK):
                        f.write(chunk)
                        received += len(chunk)
        except (TimeoutError, socket.timeout) as e:
            raise DownloadError(_stalled(url, timeout, e)) from None
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # range beyond the end: the .part is complete already
                return 0
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # IncompleteRead, refused, ...
            if isinstance(getattr(e, "reason", None), (TimeoutError, socket.timeout)):
                raise DownloadError(_stalled(url, timeout, e.reason)) from None
            raise DownloadError(f"{url}: {type(e).__name__}: {e}") from None
        if expected is not None and received != int(expected):
            raise DownloadError(f"{url}: connection closed after {received} of {expected} bytes")
    return received


def _stalled(url: str, timeout: float, error: BaseException) -> str:
    host = urllib.parse.urlsplit(url).netloc or url
    return f"{url}: server {host} stalled: no data for {timeout:g} s ({error or 'timed out'})"


def _source_kind(source) -> str:
    if source is None:
        return "coco_url"
    s = str(source)
    if s.startswith(("http://", "https://")):
        return "url"
    p = Path(s)
    if p.is_dir():
        return "folder"
    if p.is_file() and zipfile.is_zipfile(p):
        return "zip"
    raise ValueError(f"image source {source!r} is neither an http(s) URL, a folder nor a zip archive")


def fetch_images(
    images: list[dict],
    dest_dir: str | Path,
    source=None,
    workers: int = 16,
    retries: int = 2,
    timeout: float = 60.0,
    progress: bool = True,
) -> FetchSummary:
    """Make ``dest_dir/<file_name>`` an intact copy of every COCO image record in ``images``.

    ``images`` are COCO image dicts (``file_name``, and ``coco_url`` when ``source`` is None).
    Runs ``workers`` threads. Never raises for a single bad file: failures are in the summary.
    """
    kind = _source_kind(source)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    summary = FetchSummary(requested=len(images))
    t0 = time.perf_counter()
    zip_names = _zip_index(source) if kind == "zip" else {}
    cancelled = threading.Event()  # set on Ctrl-C: threads still running start no further attempt

    def one(rec: dict) -> tuple[str, str | None, int, bool]:
        name = rec["file_name"]
        dest = dest_dir / name
        was_corrupt = dest.exists() and verify_image(dest) is not None
        if dest.exists() and not was_corrupt:
            return "present", None, 0, False
        if was_corrupt:
            dest.unlink()
        reason, nbytes = None, 0
        for _attempt in range(retries + 1):
            if cancelled.is_set():
                return "failed", "cancelled", nbytes, was_corrupt
            try:
                nbytes += _fetch_one(kind, source, rec, dest, zip_names, timeout)
            except (DownloadError, KeyError, OSError) as e:
                reason = str(e) if not isinstance(e, KeyError) else f"not in archive: {name}"
                continue
            reason = verify_image(dest)
            if reason is None:
                return "downloaded", None, nbytes, was_corrupt
            dest.unlink(missing_ok=True)
        return "failed", reason, nbytes, was_corrupt

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures = {pool.submit(one, rec): rec for rec in images}
    bar = tqdm(total=len(images), desc=f"images -> {dest_dir.name}", unit="img", disable=not progress)
    try:
        for fut in as_completed(futures):
            status, reason, nbytes, was_corrupt = fut.result()
            summary.bytes += nbytes
            summary.refetched_corrupt += was_corrupt and status == "downloaded"
            if status == "present":
                summary.already_present += 1
            elif status == "downloaded":
                summary.downloaded += 1
            else:
                summary.failed.append({"file_name": futures[fut]["file_name"], "reason": reason})
            bar.update(1)
    except BaseException:  # Ctrl-C: drop pending work, abandon the threads in flight, remove their .part files
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for fut, rec in futures.items():
            if not fut.done():
                (dest_dir / (rec["file_name"] + ".part")).unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    summary.failed.sort(key=lambda d: d["file_name"])
    summary.seconds = time.perf_counter() - t0
    return summary


def _fetch_one(kind: str, source, rec: dict, dest: Path, zip_names: dict, timeout: float) -> int:
    name = rec["file_name"]
    if kind == "coco_url":
        if not rec.get("coco_url"):
            raise DownloadError(f"{name}: no coco_url in the annotation record")
        return download_url(rec["coco_url"], dest, timeout, resume=False)
    if kind == "url":
        return download_url(f"{str(source).rstrip('/')}/{name}", dest, timeout, resume=False)
    if kind == "folder" and not (Path(source) / name).is_file():
        raise DownloadError(f"{name}: not found in {source}")
    with atomic_path(dest, dest.with_name(dest.name + ".part"), durable=False) as part:
        if kind == "folder":
            shutil.copyfile(Path(source) / name, part)
        else:
            with zipfile.ZipFile(source) as zf, zf.open(zip_names[name]) as fin, open(part, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
    return dest.stat().st_size


def _zip_index(path) -> dict[str, str]:
    """Map of base file name -> member name inside a zip archive."""
    with zipfile.ZipFile(path) as zf:
        return {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}


def fetch_annotations(dest_dir: str | Path, url: str = ANNOTATIONS_URL, splits=("train2017", "val2017")) -> dict[str, Path]:
    """Download the COCO annotation archive once (resumable) and extract ``instances_<split>.json``.

    Returns ``{split: path}``. Files already extracted are reused; the archive (about 250 MB) is
    kept next to them so an interrupted extraction does not download it again.
    """
    dest_dir = Path(dest_dir)
    wanted = {s: dest_dir / f"instances_{s}.json" for s in splits}
    if all(p.exists() for p in wanted.values()):
        return wanted
    archive = dest_dir / Path(url).name
    if not (archive.exists() and zipfile.is_zipfile(archive)):
        print(f"downloading {url} -> {archive}")
        for attempt in range(4):
            try:
                download_url(url, archive, timeout=120.0, resume=True)
                break
            except DownloadError as e:
                if attempt == 3:
                    raise
                print(f"retrying ({e})")
    index = _zip_index(archive)
    with zipfile.ZipFile(archive) as zf:
        for split, path in wanted.items():
            if path.exists():
                continue
            member = index.get(path.name)
            if member is None:
                raise DownloadError(f"{archive} holds no {path.name}")
            with atomic_path(path, path.with_suffix(".part")) as tmp, zf.open(member) as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
    return wanted
