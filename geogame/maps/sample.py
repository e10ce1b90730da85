"""The demo pack: 65 CC BY-SA street photos listed in a manifest with a URL and a sha256 each.

`ensure_sample` fills a folder with `manifest.csv` plus `images/...` (the layout `import_map`
reads), copying from a local folder or downloading with urllib. `locate_sample` says whether a
complete, verified copy is already at hand. No Django here: callers pass paths and settings in.

Every error raised is a `SampleError` whose message is meant for the person at the terminal;
`SampleUnavailable` is the subclass for "the files could not be fetched from the network", whose
message says how to use a local copy instead.
"""

import csv
import hashlib
import http.client
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

SHIPPED_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "streetscapes-sample" / "manifest.csv"
# Carried into the destination with the manifest: the licence asks that attribution travel with the images.
ATTRIBUTION_NAME = "ATTRIBUTION.md"
MANIFEST_NAME = "manifest.csv"

REQUIRED_COLUMNS = ("file", "sha256")
DOWNLOAD_COLUMNS = ("source_url",)
DEFAULT_TIMEOUT = 30.0
CHUNK_SIZE = 64 * 1024
USER_AGENT = "geogame-fetch-sample/1"
PART_SUFFIX = ".part"

LOCAL_COPY_HINT = (
    "to use a local copy instead, run `manage.py fetch_sample --from DIR` "
    "or set GEOGAME_SAMPLE_DIR=DIR, where DIR holds the images/ folder listed in the manifest"
)
OFFLINE_MSG = "cannot reach {host} to download {file} ({reason}); " + LOCAL_COPY_HINT
HTTP_ERROR_MSG = "HTTP {status} {reason} for {url} (downloading {file}); " + LOCAL_COPY_HINT
INTERRUPTED_MSG = (
    "download of {file} from {host} was cut off after {got} bytes ({reason}); "
    "run again to resume it, or " + LOCAL_COPY_HINT
)
CHECKSUM_MSG = (
    "sha256 mismatch for {file} from {origin}: expected {expected}, got {actual}; the file was not kept"
)
MISSING_LOCAL_MSG = "{file} is missing from the local copy {folder} (looked for {path})"
MISSING_COLUMNS_MSG = "manifest {manifest} lacks required column(s): {columns}"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class SampleError(Exception):
    """The demo pack could not be put in place; str(error) is a message for the user."""


class SampleUnavailable(SampleError):
    """The network could not supply the files (offline, unreachable, HTTP error, cut off)."""


class ManifestError(SampleError):
    pass


class ChecksumMismatch(SampleError):
    pass


@dataclass(frozen=True)
class SampleFile:
    file: str  # relative POSIX path inside the pack, e.g. images/<uuid>.jpg
    sha256: str
    source_url: str


@dataclass
class SampleSummary:
    dest: Path
    downloaded: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)

    @property
    def total(self):
        return len(self.downloaded) + len(self.copied) + len(self.present)

    def __str__(self):
        return (
            f"{self.total} files in {self.dest}: {len(self.downloaded)} downloaded, "
            f"{len(self.copied)} copied, {len(self.present)} already present"
        )


def read_manifest(manifest, *, need_urls=True):
    """Parse and validate a manifest; return its rows as SampleFile, in order."""
    manifest = Path(manifest)
    required = REQUIRED_COLUMNS + (DOWNLOAD_COLUMNS if need_urls else ())
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(MISSING_COLUMNS_MSG.format(manifest=manifest, columns=", ".join(missing)))
            entries, seen = [], set()
            for row in reader:
                entry = _manifest_entry(row, manifest, reader.line_num, need_urls)
                if entry.file in seen:
                    where = f"manifest {manifest}, line {reader.line_num}"
                    raise ManifestError(f"{where}: {entry.file} is listed twice")
                seen.add(entry.file)
                entries.append(entry)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {manifest}: {exc.strerror or exc}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {manifest} is not a readable CSV file: {exc}") from None
    if not entries:
        raise ManifestError(f"manifest {manifest} lists no files")
    return entries


def _manifest_entry(row, manifest, line, need_urls):
    where = f"manifest {manifest}, line {line}"
    name = (row.get("file") or "").strip()
    rel = PurePosixPath(name)
    # The manifest decides where files are written: keep them inside the destination.
    if not name or rel.is_absolute() or ".." in rel.parts or "\\" in name:
        raise ManifestError(f"{where}: file {name!r} must be a relative path inside the pack")
    sha = (row.get("sha256") or "").strip().lower()
    if not _SHA256_RE.match(sha):
        raise ManifestError(f"{where}: sha256 for {name} is not 64 hex digits")
    url = (row.get("source_url") or "").strip()
    if need_urls and urlsplit(url).scheme not in ("http", "https"):
        raise ManifestError(f"{where}: source_url for {name} must be an http(s) URL, got {url!r}")
    return SampleFile(file=str(rel), sha256=sha, source_url=url)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _has_verified(path, sha256):
    return path.is_file() and file_sha256(path) == sha256


def locate_sample(explicit_dir=None, *, dest=None, manifest=SHIPPED_MANIFEST):
    """Return a folder that already holds a complete, verified copy of the pack, or None.

    Looks at `explicit_dir` (e.g. a --from argument or GEOGAME_SAMPLE_DIR) first, then `dest`
    (where ensure_sample puts the pack). A folder counts when it has a manifest.csv listing the
    same files and hashes as `manifest`, and every file is there with its sha256. Makes no
    network requests; it hashes every file, so it costs a fraction of a second for the demo pack.
    """
    wanted = {(e.file, e.sha256) for e in read_manifest(manifest, need_urls=False)}
    for folder in (explicit_dir, dest):
        if folder and _is_complete(Path(folder), wanted):
            return Path(folder)
    return None


def _is_complete(folder, wanted):
    try:
        listed = {(e.file, e.sha256) for e in read_manifest(folder / MANIFEST_NAME, need_urls=False)}
    except ManifestError:
        return False
    return listed == wanted and all(_has_verified(folder / name, sha) for name, sha in wanted)


def ensure_sample(
    dest,
    source_dir=None,
    manifest=SHIPPED_MANIFEST,
    progress=True,
    timeout=DEFAULT_TIMEOUT,
    *,
    progress_file=None,
):
    """Make `dest` hold the pack (manifest.csv + every listed file, each sha256-verified).

    1. Read and validate the manifest (source_url is only required when downloading).
    2. For each file: skip it if dest already has it with the right hash; otherwise copy it from
       `source_dir` when given, else download its source_url (resuming a `.part` left by an
       earlier run). Each file lands under its final name only after its hash matched.
    3. Copy the manifest (and ATTRIBUTION.md if it sits beside it) in last, so a first run that
       fails leaves no manifest.csv for import_map to half-import.

    `progress`: True shows a bar, False hides it, None shows it only on a terminal; it goes to
    `progress_file` (default sys.stderr). Stops at the first failure with a SampleError
    (SampleUnavailable when the network failed). Returns a SampleSummary.
    """
    dest = Path(dest)
    manifest = Path(manifest)
    source_dir = Path(source_dir) if source_dir else None
    entries = read_manifest(manifest, need_urls=source_dir is None)
    if source_dir is not None and not source_dir.is_dir():
        raise SampleError(
            f"local copy {source_dir} is not a folder; point --from or GEOGAME_SAMPLE_DIR at the folder "
            "that holds the images/ listed in the manifest"
        )

    summary = SampleSummary(dest=dest)
    bar = _progress_bar(len(entries), progress, progress_file)
    try:
        for entry in entries:
            bar.set_postfix_str(PurePosixPath(entry.file).name, refresh=False)
            _ensure_file(entry, dest, source_dir, timeout, summary)
            bar.update(1)
    finally:
        bar.close()

    try:
        _install_file(manifest, dest / MANIFEST_NAME)
        attribution = manifest.parent / ATTRIBUTION_NAME
        if attribution.is_file():
            _install_file(attribution, dest / ATTRIBUTION_NAME)
    except OSError as exc:
        raise SampleError(f"cannot write the manifest into {dest}: {_file_error(exc)}") from None
    return summary


def _ensure_file(entry, dest, source_dir, timeout, summary):
    target = dest / entry.file
    try:
        if _has_verified(target, entry.sha256):
            summary.present.append(entry.file)
        elif source_dir is not None:
            _copy_verified(entry, source_dir, target)
            summary.copied.append(entry.file)
        else:
            _download_verified(entry, target, timeout)
            summary.downloaded.append(entry.file)
    except OSError as exc:
        # Local disk trouble (permissions, a full disk); network errors were already turned into
        # SampleUnavailable where they happened.
        raise SampleError(f"cannot put {entry.file} in place: {_file_error(exc)}") from None


def _file_error(exc):
    return f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc.strerror or exc)


def _progress_bar(total, progress, file):
    from tqdm import tqdm

    disable = None if progress is None else not progress  # tqdm: None = only on a terminal
    return tqdm(total=total, unit="file", desc="demo pack", file=file or sys.stderr, disable=disable)


def _part_path(target):
    return target.with_name(target.name + PART_SUFFIX)


def _install_file(source, target):
    """Copy `source` to `target` atomically, unless they are already the same file."""
    if target.exists() and source.resolve() == target.resolve():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _part_path(target)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _copy_verified(entry, source_dir, target):
    source = source_dir / entry.file
    if not source.is_file():
        raise SampleError(MISSING_LOCAL_MSG.format(file=entry.file, folder=source_dir, path=source))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Copy to a side name and hash what was written: a bad source never sits under the final name,
    # and copying a folder onto itself (source_dir == dest) cannot truncate the original.
    part = _part_path(target)
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(part, "wb") as out:
        while chunk := src.read(CHUNK_SIZE):
            out.write(chunk)
            digest.update(chunk)
    _accept_or_discard(part, target, entry, digest.hexdigest(), origin=str(source))


def _accept_or_discard(part, target, entry, actual, *, origin):
    if actual != entry.sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(
            CHECKSUM_MSG.format(file=entry.file, origin=origin, expected=entry.sha256, actual=actual)
        )
    os.replace(part, target)


def _download_verified(entry, target, timeout):
    """Download entry.source_url to target through target.part, resuming it when present.

    1. If a .part exists, ask for the rest with `Range: bytes=N-`; a 206 whose Content-Range
       starts at N is appended, a 200 (a server that ignores Range) rewrites the .part from the
       start, a 206 for any other slice is dropped and the whole file asked for. A 416 means the
       .part may already be whole: check its hash.
    2. A body shorter than its Content-Length keeps the .part and raises, so the next run resumes.
    3. On a hash mismatch the .part is deleted. When the bad bytes came partly from an old .part
       (the remote file changed since), start over once from zero before giving up.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(target)
    for attempt in range(2):
        offset = part.stat().st_size if part.is_file() else 0
        if offset:
            actual, resumed = _fetch_rest(entry, part, offset, timeout)
        else:
            actual, resumed = _fetch_into(entry, part, None, 0, timeout)
        if actual == entry.sha256 or not resumed or attempt == 1:
            _accept_or_discard(part, target, entry, actual, origin=entry.source_url)
            return
        part.unlink(missing_ok=True)


def _fetch_rest(entry, part, offset, timeout):
    try:
        return _fetch_into(entry, part, f"bytes={offset}-", offset, timeout)
    except _RangeNotSatisfiable:
        # An earlier run stopped between the last byte and the rename: the .part may be whole.
        actual = file_sha256(part)
        if actual == entry.sha256:
            return actual, True
        part.unlink()
        return _fetch_into(entry, part, None, 0, timeout)


class _RangeNotSatisfiable(Exception):
    pass


def _fetch_into(entry, part, range_header, offset, timeout):
    """Write the response body into `part`; return (sha256 of the whole .part, whether it appended)."""
    url = entry.source_url
    host = urlsplit(url).netloc
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if range_header:
        request.add_header("Range", range_header)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and range_header:
            raise _RangeNotSatisfiable() from None
        raise SampleUnavailable(
            HTTP_ERROR_MSG.format(status=exc.code, reason=exc.reason, url=url, file=entry.file)
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = _os_reason(exc)
        raise SampleUnavailable(OFFLINE_MSG.format(host=host, file=entry.file, reason=reason)) from None

    with response:
        if range_header and response.status == 206 and _range_start(response) != offset:
            # Some other slice of the file: neither appendable nor a whole file. Ask for all of it.
            response.close()
            return _fetch_into(entry, part, None, 0, timeout)
        appending = bool(range_header) and response.status == 206
        digest = hashlib.sha256()
        if appending:
            with open(part, "rb") as fh:
                while chunk := fh.read(CHUNK_SIZE):
                    digest.update(chunk)
        expected = _content_length(response)
        received = 0
        with open(part, "ab" if appending else "wb") as out:
            while True:
                try:
                    chunk = response.read(CHUNK_SIZE)
                except (OSError, http.client.HTTPException) as exc:
                    got = (offset if appending else 0) + received
                    raise SampleUnavailable(
                        INTERRUPTED_MSG.format(file=entry.file, host=host, got=got, reason=_os_reason(exc))
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        # http.client returns a short body without complaint when the server closes early.
        if expected is not None and received < expected:
            got = (offset if appending else 0) + received
            raise SampleUnavailable(
                INTERRUPTED_MSG.format(
                    file=entry.file, host=host, got=got, reason=f"expected {expected - received} more"
                )
            )
    return digest.hexdigest(), appending


def _range_start(response):
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _content_length(response):
    raw = response.headers.get("Content-Length")
    return int(raw) if raw and raw.isdigit() else None


def _os_reason(exc):
    """The OS's words for a failure: 'Connection refused', 'Name or service not known', 'timed out'."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
