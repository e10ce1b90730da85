"""fetch_sample against a real HTTP server on loopback (no mocks of urllib, no sleeps)."""

import csv
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from geogame.maps.sample import (
    LOCAL_COPY_HINT,
    SHIPPED_MANIFEST,
    ChecksumMismatch,
    ManifestError,
    SampleError,
    SampleUnavailable,
    ensure_sample,
    file_sha256,
    locate_sample,
)

REPO = Path(__file__).resolve().parents[1]
with SHIPPED_MANIFEST.open(newline="") as _fh:
    COLUMNS = next(csv.reader(_fh))
COLORS = {"aurora": (200, 30, 30), "hameln": (30, 200, 30), "orleans": (30, 30, 200)}
TIMEOUT = 5.0  # seconds; loopback answers at once, this only bounds a bug


def jpeg_bytes(color):
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(buf, format="JPEG")
    return buf.getvalue()


class PackServer(ThreadingHTTPServer):
    """Serves `files` (URL path -> bytes) and records every request as (path, Range header).

    `cut_short[path] = n` makes the next response for path send only n bytes of a body whose
    Content-Length is the full size, then close; `ignore_range` answers 200 to Range requests;
    `misplace_range` answers a Range request with a 206 for the whole file (bytes 0-), a slice
    the client did not ask for.
    """

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PackHandler)
        self.files = {}
        self.requests = []
        self.cut_short = {}
        self.ignore_range = False
        self.misplace_range = False

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class PackHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not server.ignore_range:
            start = 0 if server.misplace_range else int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut_short.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, format, *args):
        pass


@pytest.fixture
def server():
    srv = PackServer()
    # A short poll interval only makes shutdown() return sooner at teardown.
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    # A proxy configured in the environment must not swallow requests to the test server.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def write_manifest(path, rows, columns=COLUMNS):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def pack(server, tmp_path):
    """Three images served by `server` and a manifest (in tmp/src) whose source_urls point at it."""
    rows = []
    for i, (city, color) in enumerate(COLORS.items()):
        data = jpeg_bytes(color)
        server.files[f"/pack/{city}.jpeg"] = data
        rows.append(
            {
                "id": f"id-{i}",
                "file": f"images/{city}.jpg",
                "source": "Mapillary",
                "source_id": str(i),
                "lat": "48.1",
                "lon": "9.2",
                "heading": "90",
                "projection": "perspective",
                "city": city,
                "license": "CC BY-SA 4.0",
                "attribution": f"Mapillary image {i}",
                "source_url": f"{server.base_url}/pack/{city}.jpeg",
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    manifest = write_manifest(tmp_path / "src" / "manifest.csv", rows)
    return {"manifest": manifest, "rows": rows, "dest": tmp_path / "dest"}


def fetch(pack, **kwargs):
    kwargs.setdefault("manifest", pack["manifest"])
    return ensure_sample(pack["dest"], progress=False, timeout=TIMEOUT, **kwargs)


def assert_complete(dest, rows):
    for row in rows:
        assert file_sha256(dest / row["file"]) == row["sha256"]
    assert not list(dest.rglob("*.part"))
    assert (dest / "manifest.csv").is_file()


def local_copy(pack, tmp_path):
    folder = tmp_path / "local"
    for row in pack["rows"]:
        target = folder / row["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpeg_bytes(COLORS[row["city"]]))
    return folder


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def point_urls_at(pack, base_url):
    rows = [
        {**row, "source_url": row["source_url"].replace(row["source_url"].split("/pack/")[0], base_url)}
        for row in pack["rows"]
    ]
    write_manifest(pack["manifest"], rows)


# Downloading


def test_it_downloads_every_file_and_verifies_its_sha256(pack, server):
    summary = fetch(pack)

    assert summary.downloaded == [row["file"] for row in pack["rows"]]
    assert (summary.copied, summary.present) == ([], [])
    assert_complete(pack["dest"], pack["rows"])
    assert (pack["dest"] / "manifest.csv").read_bytes() == pack["manifest"].read_bytes()
    assert [path for path, _ in server.requests] == [f"/pack/{city}.jpeg" for city in COLORS]


def test_a_second_run_makes_no_requests(pack, server):
    fetch(pack)
    server.requests.clear()

    summary = fetch(pack)

    assert server.requests == []
    assert len(summary.present) == 3
    assert str(summary) == f"3 files in {pack['dest']}: 0 downloaded, 0 copied, 3 already present"


def test_it_resumes_a_cut_short_download_with_a_range_header(pack, server):
    full = server.files["/pack/hameln.jpeg"]
    server.cut_short["/pack/hameln.jpeg"] = 100

    cut_off = "images/hameln.jpg .*cut off after 100 bytes.*run again to resume"
    with pytest.raises(SampleUnavailable, match=cut_off):
        fetch(pack)
    part = pack["dest"] / "images" / "hameln.jpg.part"
    assert part.read_bytes() == full[:100]
    assert not (pack["dest"] / "images" / "hameln.jpg").exists()
    server.requests.clear()

    summary = fetch(pack)

    assert server.requests == [("/pack/hameln.jpeg", "bytes=100-"), ("/pack/orleans.jpeg", None)]
    assert summary.downloaded == ["images/hameln.jpg", "images/orleans.jpg"]
    assert summary.present == ["images/aurora.jpg"]
    assert_complete(pack["dest"], pack["rows"])


def test_a_server_that_ignores_range_still_yields_a_correct_file(pack, server):
    server.cut_short["/pack/aurora.jpeg"] = 50
    with pytest.raises(SampleUnavailable):
        fetch(pack)
    server.ignore_range = True
    server.requests.clear()

    fetch(pack)

    # One request: the 200 carrying the whole file replaced the .part instead of being appended.
    assert server.requests[0] == ("/pack/aurora.jpeg", "bytes=50-")
    assert [path for path, _ in server.requests].count("/pack/aurora.jpeg") == 1
    assert_complete(pack["dest"], pack["rows"])


def test_a_206_for_a_slice_that_was_not_asked_for_is_dropped_and_the_whole_file_fetched(pack, server):
    server.cut_short["/pack/aurora.jpeg"] = 50
    with pytest.raises(SampleUnavailable):
        fetch(pack)
    server.misplace_range = True
    server.requests.clear()

    fetch(pack)

    aurora = [rng for path, rng in server.requests if path == "/pack/aurora.jpeg"]
    assert aurora == ["bytes=50-", None]
    assert_complete(pack["dest"], pack["rows"])


def test_a_part_that_is_already_whole_is_verified_and_kept(pack, server):
    # A run that died between the last byte and the rename: the server answers 416 to bytes=N-.
    part = pack["dest"] / "images" / "aurora.jpg.part"
    part.parent.mkdir(parents=True)
    size = part.write_bytes(server.files["/pack/aurora.jpeg"])

    fetch(pack)

    assert server.requests[0] == ("/pack/aurora.jpeg", f"bytes={size}-")
    assert [path for path, _ in server.requests].count("/pack/aurora.jpeg") == 1
    assert_complete(pack["dest"], pack["rows"])


def test_a_stale_part_from_a_changed_file_is_discarded_and_fetched_again(pack, server):
    part = pack["dest"] / "images" / "orleans.jpg.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"not the start of this jpeg")

    fetch(pack)

    orleans = [rng for path, rng in server.requests if path == "/pack/orleans.jpeg"]
    assert orleans == [f"bytes={len(b'not the start of this jpeg')}-", None]
    assert_complete(pack["dest"], pack["rows"])


def test_a_file_whose_sha256_does_not_match_is_an_error_and_is_not_kept(pack, server):
    server.files["/pack/orleans.jpeg"] = jpeg_bytes((1, 2, 3))

    with pytest.raises(ChecksumMismatch, match=r"sha256 mismatch for images/orleans\.jpg from http://127"):
        fetch(pack)

    images = pack["dest"] / "images"
    assert sorted(p.name for p in images.iterdir()) == ["aurora.jpg", "hameln.jpg"]
    assert not (pack["dest"] / "manifest.csv").exists()


def test_a_corrupted_file_in_dest_is_fetched_again(pack, server):
    fetch(pack)
    (pack["dest"] / "images" / "aurora.jpg").write_bytes(b"bit rot")
    server.requests.clear()

    summary = fetch(pack)

    assert summary.downloaded == ["images/aurora.jpg"]
    assert server.requests == [("/pack/aurora.jpeg", None)]
    assert_complete(pack["dest"], pack["rows"])


def test_http_404_names_the_status_and_the_url(pack, server):
    del server.files["/pack/hameln.jpeg"]

    with pytest.raises(SampleUnavailable) as info:
        fetch(pack)

    url = f"{server.base_url}/pack/hameln.jpeg"
    message = str(info.value)
    assert message.startswith(f"HTTP 404 Not Found for {url} (downloading images/hameln.jpg); ")
    assert LOCAL_COPY_HINT in message
    assert not (pack["dest"] / "images" / "hameln.jpg").exists()


def test_an_unreachable_host_gives_one_clear_offline_message(pack):
    port = closed_port()
    point_urls_at(pack, f"http://127.0.0.1:{port}")

    with pytest.raises(SampleUnavailable) as info:
        fetch(pack)

    assert str(info.value) == (
        f"cannot reach 127.0.0.1:{port} to download images/aurora.jpg (Connection refused); {LOCAL_COPY_HINT}"
    )


def test_the_progress_bar_counts_files(pack):
    bar = io.StringIO()

    ensure_sample(pack["dest"], manifest=pack["manifest"], progress=True, progress_file=bar, timeout=TIMEOUT)

    assert "demo pack: 100%" in bar.getvalue() and "3/3" in bar.getvalue()


# Copying from a local folder


def test_it_copies_from_a_local_folder_verifying_each_file_without_any_request(pack, server, tmp_path):
    folder = local_copy(pack, tmp_path)

    summary = fetch(pack, source_dir=folder)

    assert summary.copied == [row["file"] for row in pack["rows"]]
    assert server.requests == []
    assert_complete(pack["dest"], pack["rows"])


def test_a_file_missing_from_the_local_folder_is_named(pack, tmp_path):
    folder = local_copy(pack, tmp_path)
    (folder / "images" / "hameln.jpg").unlink()

    with pytest.raises(SampleError, match=r"images/hameln\.jpg is missing from the local copy .*local"):
        fetch(pack, source_dir=folder)


def test_a_local_file_with_the_wrong_sha256_is_not_copied(pack, tmp_path):
    folder = local_copy(pack, tmp_path)
    (folder / "images" / "hameln.jpg").write_bytes(b"edited")

    with pytest.raises(ChecksumMismatch, match=r"images/hameln\.jpg from .*local/images/hameln\.jpg"):
        fetch(pack, source_dir=folder)
    assert not (pack["dest"] / "images" / "hameln.jpg").exists()
    assert not (pack["dest"] / "images" / "hameln.jpg.part").exists()


# Manifests


def test_a_manifest_missing_required_columns_names_them(pack, tmp_path):
    bad = write_manifest(tmp_path / "bad.csv", pack["rows"], columns=["id", "file", "lat", "lon"])

    with pytest.raises(ManifestError, match=r"lacks required column\(s\): sha256, source_url$"):
        fetch(pack, manifest=bad)


def test_a_manifest_for_a_local_copy_needs_no_source_url(pack, tmp_path):
    folder = local_copy(pack, tmp_path)
    manifest = write_manifest(tmp_path / "plain.csv", pack["rows"], columns=["id", "file", "sha256"])

    assert len(fetch(pack, manifest=manifest, source_dir=folder).copied) == 3


def test_a_manifest_cannot_write_outside_the_destination(pack, tmp_path):
    rows = [{**pack["rows"][0], "file": "../escape.jpg"}]
    bad = write_manifest(tmp_path / "bad.csv", rows)

    message = "line 2: file '../escape.jpg' must be a relative path inside the pack"
    with pytest.raises(ManifestError, match=re.escape(message)):
        fetch(pack, manifest=bad)


# locate_sample


def test_locate_finds_nothing_before_a_fetch_and_the_dest_after(pack, tmp_path):
    assert locate_sample(None, dest=pack["dest"], manifest=pack["manifest"]) is None

    fetch(pack)

    assert locate_sample(None, dest=pack["dest"], manifest=pack["manifest"]) == pack["dest"]


def test_locate_prefers_a_complete_local_folder_and_skips_an_incomplete_one(pack, tmp_path):
    folder = local_copy(pack, tmp_path)
    write_manifest(folder / "manifest.csv", pack["rows"])
    assert locate_sample(folder, dest=pack["dest"], manifest=pack["manifest"]) == folder

    (folder / "images" / "aurora.jpg").write_bytes(b"truncated")
    assert locate_sample(folder, dest=pack["dest"], manifest=pack["manifest"]) is None


# The command


def test_the_command_downloads_into_data_dir_sample_and_reports_a_summary(pack, settings):
    settings.GEOGAME_SAMPLE_DIR = ""
    out = io.StringIO()

    call_command("fetch_sample", "--manifest", str(pack["manifest"]), "--timeout", "5", stdout=out)

    dest = Path(settings.DATA_DIR) / "sample"
    assert_complete(dest, pack["rows"])
    assert f"3 files in {dest}: 3 downloaded, 0 copied, 0 already present" in out.getvalue()


def test_the_command_copies_from_GEOGAME_SAMPLE_DIR(pack, server, settings, tmp_path):
    settings.GEOGAME_SAMPLE_DIR = str(local_copy(pack, tmp_path))
    out = io.StringIO()

    call_command("fetch_sample", "--manifest", str(pack["manifest"]), "--dest", str(pack["dest"]), stdout=out)

    assert "3 copied" in out.getvalue()
    assert server.requests == []


def test_the_command_raises_command_error_with_the_offline_message(pack, settings):
    settings.GEOGAME_SAMPLE_DIR = ""
    port = closed_port()
    point_urls_at(pack, f"http://127.0.0.1:{port}")

    with pytest.raises(CommandError, match=f"cannot reach 127.0.0.1:{port} .*Connection refused.*--from DIR"):
        call_command("fetch_sample", "--manifest", str(pack["manifest"]), "--dest", str(pack["dest"]))


def test_the_command_exits_non_zero_with_one_line_and_no_traceback(pack, tmp_path):
    port = closed_port()
    point_urls_at(pack, f"http://127.0.0.1:{port}")
    env = {**os.environ, "GEOGAME_DATA_DIR": str(tmp_path / "data"), "GEOGAME_SAMPLE_DIR": ""}

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "fetch_sample",
            "--manifest",
            str(pack["manifest"]),
            "--dest",
            str(pack["dest"]),
            "--timeout",
            "5",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"CommandError: cannot reach 127.0.0.1:{port} to download images/aurora.jpg (Connection refused); "
        + LOCAL_COPY_HINT
    )


def test_the_command_fails_on_a_local_folder_missing_a_file(pack, tmp_path):
    folder = local_copy(pack, tmp_path)
    (folder / "images" / "orleans.jpg").unlink()

    with pytest.raises(CommandError, match=r"images/orleans\.jpg is missing from the local copy"):
        call_command(
            "fetch_sample",
            "--from",
            str(folder),
            "--manifest",
            str(pack["manifest"]),
            "--dest",
            str(pack["dest"]),
        )


def test_the_shared_sample_copies_and_verifies_all_65_files(shared_sample, tmp_path):
    dest = tmp_path / "sample"
    out = io.StringIO()

    call_command("fetch_sample", "--from", str(shared_sample), "--dest", str(dest), stdout=out)

    assert "65 files in" in out.getvalue() and "65 copied" in out.getvalue()
    with SHIPPED_MANIFEST.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 65
    assert_complete(dest, rows)
    assert locate_sample(None, dest=dest) == dest
