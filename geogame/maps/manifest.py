"""Reading a map folder's manifest.csv. Pure; no Django.

Columns (header names, any order; extra columns are ignored):
  file        required  image path relative to the folder
  lat, lon    required  decimal degrees
  projection  optional  perspective (default), equirectangular (360-degree panorama) or fisheye
  heading     optional  compass heading of the camera / panorama centre, degrees
  city, country, iso2   optional  city and country: needed for the city multiple-choice mode; iso2
                        (ISO 3166-1 alpha-2) is checked against the country the coordinates fall in
                        (geogame.maps.countries), a mismatch reported as an import warning
  source, source_id     optional  provenance; (source, source_id) is unique per map.
                        source_id defaults to `id`, then to `file`
  license, attribution, captured_at   optional  shown to players after their guess
  sha256      optional  checked against the file when present
  split       optional  train, val, test or play: a dataset's own split; empty: a seeded hash
                        of the location by the map's split fractions (geogame.maps.rules.assign_split)
"""

import csv
import io
import math
from dataclasses import dataclass

from geogame.common.geo import check_latlon

REQUIRED_COLUMNS = ("file", "lat", "lon")
PROJECTIONS = ("perspective", "equirectangular", "fisheye")
SPLITS = ("train", "val", "test", "play")  # as geogame.maps.rules.SPLIT_ORDER
MAX_MANIFEST_BYTES = 20 * 1024 * 1024


class ManifestError(ValueError):
    """The manifest as a whole cannot be read."""


@dataclass(frozen=True)
class ManifestRow:
    line: int
    file: str
    lat: float
    lon: float
    projection: str
    heading: float | None
    city: str
    country: str
    source: str
    source_id: str
    license: str
    attribution: str
    captured_at: str
    sha256: str
    split: str = ""
    iso2: str = ""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self):
        return f"row {self.line}: {self.reason}"


def _parse_row(line, raw):
    def get(name):
        return (raw.get(name) or "").strip()

    file = get("file")
    if not file:
        raise ValueError("column 'file' is empty")
    if file.startswith(("/", "\\")) or ".." in file.replace("\\", "/").split("/"):
        raise ValueError(f"file {file!r} must be a relative path inside the folder")
    if not get("lat") or not get("lon"):
        raise ValueError("lat and lon are required")
    lat, lon = check_latlon(get("lat"), get("lon"))
    projection = get("projection").lower() or "perspective"
    if projection not in PROJECTIONS:
        raise ValueError(f"projection {projection!r} is not one of {', '.join(PROJECTIONS)}")
    heading = None
    if get("heading"):
        try:
            heading = float(get("heading"))
        except ValueError:
            raise ValueError(f"heading {get('heading')!r} is not a number") from None
        if not math.isfinite(heading):
            raise ValueError("heading must be a finite number")
        heading %= 360.0
    iso2 = get("iso2").upper()
    if iso2 and (len(iso2) != 2 or not iso2.isascii() or not iso2.isalpha()):
        raise ValueError(f"iso2 {get('iso2')!r} is not a two-letter ISO 3166-1 code")
    split = get("split").lower()
    if split and split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    sha = get("sha256").lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise ValueError(f"sha256 {sha!r} is not 64 hex digits")
    return ManifestRow(
        line=line,
        file=file,
        lat=lat,
        lon=lon,
        projection=projection,
        heading=heading,
        city=get("city"),
        country=get("country"),
        source=get("source") or "local",
        source_id=get("source_id") or get("id") or file,
        license=get("license"),
        attribution=get("attribution"),
        captured_at=get("captured_at"),
        sha256=sha,
        split=split,
        iso2=iso2,
    )


def parse_manifest(data):
    """Parse manifest bytes into (rows, row_errors). Raises ManifestError when the
    file as a whole is unusable (not UTF-8 text, no header, missing columns)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(data)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise ManifestError("manifest is not a text file (contains NUL bytes)")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ManifestError("manifest is empty: expected a header row")
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"manifest lacks required column(s): {', '.join(missing)}; header is {header}")

    rows, errors, seen = [], [], {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(
                    RowError(line, f"has {len(header) + len(raw[None])} fields; header has {len(header)}")
                )
                continue
            if not any((v or "").strip() for v in raw.values()):
                continue  # blank line
            try:
                row = _parse_row(line, raw)
            except ValueError as exc:
                errors.append(RowError(line, str(exc)))
                continue
            key = (row.source, row.source_id)
            if key in seen:
                errors.append(
                    RowError(
                        line, f"duplicate source id {row.source}:{row.source_id} (first on row {seen[key]})"
                    )
                )
                continue
            seen[key] = line
            rows.append(row)
    except csv.Error as exc:
        raise ManifestError(f"manifest is not valid CSV near line {reader.line_num}: {exc}") from None
    return rows, errors
