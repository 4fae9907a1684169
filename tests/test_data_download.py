"""The real download code against an HTTP server on 127.0.0.1 serving COCO128 files.

The server breaks off some responses midway (Content-Length larger than the bytes sent, then
the connection is closed): once for one file (a retry must succeed), always for another (it must
be reported, never left under its final name).
"""

import json
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from yolo_lib.data.__main__ import main as cli_main
from yolo_lib.data.coco_subset import load_annotations, select_images
from yolo_lib.data.download import download_url, fetch_annotations, fetch_images, verify_image

FLAKY, BROKEN = "000000000009.jpg", "000000000025.jpg"
BROKEN_IN_SUBSET = "000000000241.jpg"  # among the 8 images the CLI test selects with seed 0


class BreakingHandler(SimpleHTTPRequestHandler):
    """Serves files; FLAKY is cut off on its first request, BROKEN(_IN_SUBSET) on every request."""

    calls: dict = {}

    def log_message(self, *args):
        pass

    def translate_path(self, path):  # serve /<anything>/<file> like images.cocodataset.org/<split>/<file>
        return str(self.directory_path / path.split("?")[0].rsplit("/", 1)[-1])

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        n = self.calls[name] = self.calls.get(name, 0) + 1
        if name in (BROKEN, BROKEN_IN_SUBSET) or (name == FLAKY and n == 1):
            data = (self.directory_path / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 3])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        super().do_GET()


def serve(directory):
    """Start a BreakingHandler server on 127.0.0.1 for ``directory``: (httpd, base URL, call counts)."""
    handler = type("H", (BreakingHandler,), {"calls": {}, "directory_path": directory})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}", handler.calls


@pytest.fixture
def server(shared):
    httpd, base, calls = serve(shared / "data" / "coco128" / "images")
    yield f"{base}/train2017", calls
    httpd.shutdown()
    httpd.server_close()


def test_annotation_archive_is_fetched_once_and_extracted(shared, tmp_path):
    src = tmp_path / "srv"
    src.mkdir()
    ann = shared / "data" / "coco128" / "annotations" / "instances_train2017.json"
    with zipfile.ZipFile(src / "annotations_trainval2017.zip", "w") as zf:
        zf.write(ann, "annotations/instances_val2017.json")
    httpd, base, calls = serve(src)
    try:
        dest = tmp_path / "annotations"
        dest.mkdir()
        (dest / "annotations_trainval2017.zip.part").write_bytes(b"stale partial bytes")  # interrupted earlier
        got = fetch_annotations(dest, f"{base}/annotations_trainval2017.zip", splits=("val2017",))
        assert got["val2017"].read_bytes() == ann.read_bytes()
        assert not (dest / "annotations_trainval2017.zip.part").exists()
        assert fetch_annotations(dest, f"{base}/annotations_trainval2017.zip", splits=("val2017",)) == got
        assert calls == {"annotations_trainval2017.zip": 1}
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def coco(shared):
    return load_annotations(shared / "data" / "coco128" / "annotations" / "instances_train2017.json")


def records(coco, names):
    by_name = {r["file_name"]: r for r in coco.imgs.values()}
    return [by_name[n] for n in names]


def test_truncated_response_raises_and_leaves_no_file(server, tmp_path):
    base, _ = server
    from yolo_lib.data.download import DownloadError
    with pytest.raises(DownloadError, match="closed after|IncompleteRead"):
        download_url(f"{base}/{BROKEN}", tmp_path / BROKEN)
    assert not (tmp_path / BROKEN).exists()


def test_parallel_fetch_retries_reports_and_resumes(server, coco, tmp_path):
    base, calls = server
    names = [FLAKY, BROKEN, "000000000030.jpg", "000000000034.jpg", "000000000036.jpg", "000000000042.jpg"]
    recs = records(coco, names)
    s = fetch_images(recs, tmp_path, base, workers=4, retries=1, progress=False)
    assert s.downloaded == 5 and s.already_present == 0
    assert [f["file_name"] for f in s.failed] == [BROKEN]
    assert "closed after" in s.failed[0]["reason"] or "IncompleteRead" in s.failed[0]["reason"]
    assert calls[FLAKY] == 2 and calls[BROKEN] == 2
    assert not (tmp_path / BROKEN).exists()
    assert all(verify_image(tmp_path / n) is None for n in names if n != BROKEN)
    # resume: intact files are kept; a corrupted one (truncated on disk) is fetched again
    data = (tmp_path / "000000000030.jpg").read_bytes()
    (tmp_path / "000000000030.jpg").write_bytes(data[: len(data) // 2])
    s2 = fetch_images(recs, tmp_path, base, workers=4, retries=0, progress=False)
    assert s2.already_present == 4 and s2.downloaded == 1 and s2.refetched_corrupt == 1
    assert calls["000000000034.jpg"] == 1 and calls["000000000030.jpg"] == 2
    assert [f["file_name"] for f in s2.failed] == [BROKEN]


def test_coco_url_folder_and_zip_sources(server, coco, shared, tmp_path):
    base, _ = server
    names = ["000000000030.jpg", "000000000034.jpg"]
    recs = [dict(r, coco_url=f"{base}/{r['file_name']}") for r in records(coco, names)]
    assert fetch_images(recs, tmp_path / "a", None, progress=False).downloaded == 2
    folder = shared / "data" / "coco128" / "images"
    s = fetch_images(records(coco, names), tmp_path / "b", folder, progress=False)
    assert s.downloaded == 2
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / names[0], f"train2017/{names[0]}")
    s = fetch_images(records(coco, names), tmp_path / "c", archive, retries=0, progress=False)
    assert s.downloaded == 1 and s.failed == [{"file_name": names[1], "reason": f"not in archive: {names[1]}"}]
    with pytest.raises(ValueError, match="neither an http"):
        fetch_images(recs, tmp_path / "d", tmp_path / "no_such_source", progress=False)


def test_cli_build_prints_summary_with_skipped_items(server, coco, shared, tmp_path, capsys, monkeypatch):
    base, _ = server
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))
    ann = shared / "data" / "coco128" / "annotations" / "instances_train2017.json"
    sel = select_images(coco, ["person", "cell phone"], 8, seed=0)
    rc = cli_main(["build", "--split", "train", "--images", "8", "--annotations", str(ann), "--source", base,
                   "--workers", "4", "--quiet", "--cache-size", "64"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["images"] == 8
    assert sum(out["boxes_per_class"].values()) == sum(sel.boxes_per_class.values())
    skipped = {s["file_name"] for s in out["skipped"]}
    assert skipped == {BROKEN_IN_SUBSET} and "download failed" in out["skipped"][0]["reason"]
    assert out["download"]["downloaded"] == 7
    assert out["cache"]["images"] == 7
    assert {s["file_name"] for s in out["cache"]["skipped"]} == skipped
    assert (tmp_path / "coco" / "images" / "train2017").is_dir()
    assert cli_main(["build", "--annotations", str(ann), "--classes", "person", "unicorn", "--quiet"]) == 1
    assert "unknown COCO category" in capsys.readouterr().err
