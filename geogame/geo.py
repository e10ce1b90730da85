"""Geodesy on a spherical Earth: the one place for distances and means."""

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def check_latlon(lat, lon):
    """Return (lat, lon) as floats or raise ValueError saying what is wrong."""
    try:
        lat = float(lat)
        lon = float(lon)
    except (TypeError, ValueError):
        raise ValueError("latitude and longitude must be numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("latitude and longitude must be finite numbers")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside [-180, 180]")
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
