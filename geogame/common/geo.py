"""Geodesy on a spherical Earth: the one place for distances and means."""

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


ERR_NOT_NUMBERS = "latitude and longitude must be numbers"
ERR_NOT_FINITE = "latitude and longitude must be finite numbers"
ERR_LAT_RANGE = "latitude {value} is outside [-90, 90]"
ERR_LON_RANGE = "longitude {value} is outside [-180, 180]"


def check_latlon(lat, lon, *, numbers_only=False):
    """Return (lat, lon) as floats or raise ValueError saying what is wrong: the one check of a
    coordinate pair, from a CSV, a JSON body or a duel message.

    Text such as a CSV's "48.1" is read as a number unless `numbers_only` (JSON input must send
    numbers, and True is not one). An integer too large for a float (JSON allows 400 digits)
    is refused like infinity, never an OverflowError."""
    out = []
    for value in (lat, lon):
        if numbers_only and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(ERR_NOT_NUMBERS)
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(ERR_NOT_FINITE) from None
        except (TypeError, ValueError):
            raise ValueError(ERR_NOT_NUMBERS) from None
        if not math.isfinite(number):
            raise ValueError(ERR_NOT_FINITE)
        # An error shows the number as sent: 91 stays 91 (a float, or text read as one, as a float).
        shown = value if isinstance(value, int) and not isinstance(value, bool) else number
        out.append((number, shown))
    (lat, lat_shown), (lon, lon_shown) = out
    if not -90.0 <= lat <= 90.0:
        raise ValueError(ERR_LAT_RANGE.format(value=lat_shown))
    if not -180.0 <= lon <= 180.0:
        raise ValueError(ERR_LON_RANGE.format(value=lon_shown))
    return lat, lon


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def spherical_mean(points):
    """Mean of (lat, lon) points taken on the unit sphere, so it is right across
    the antimeridian. Returns (lat, lon)."""
    x = y = z = 0.0
    n = 0
    for lat, lon in points:
        p, lm = math.radians(lat), math.radians(lon)
        x += math.cos(p) * math.cos(lm)
        y += math.cos(p) * math.sin(lm)
        z += math.sin(p)
        n += 1
    if n == 0:
        raise ValueError("spherical_mean of no points")
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-12:
        raise ValueError("points cancel out: their spherical mean is undefined")
    return math.degrees(math.asin(z / norm)), math.degrees(math.atan2(y, x))


def bounding_box(points):
    """(min_lat, min_lon, max_lat, max_lon) of (lat, lon) points."""
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    if not lats:
        raise ValueError("bounding_box of no points")
    return min(lats), min(lons), max(lats), max(lons)
