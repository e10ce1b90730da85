"""Geocells and districts: k-means over training locations on the unit sphere.

Clustering happens on 3-d unit vectors, not on raw lat/lon, so that cells near the poles
or across the antimeridian are not torn apart by the map projection. Centroids are
projected back onto the sphere before being turned into lat/lon.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geogame.common.geo import EARTH_RADIUS_KM


def latlon_to_xyz(latlons) -> np.ndarray:
    """Degrees (..., 2) as (lat, lon) to unit vectors (..., 3)."""
    latlons = np.asarray(latlons, dtype=np.float64)
    lat = np.radians(latlons[..., 0])
    lon = np.radians(latlons[..., 1])
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def xyz_to_latlon(xyz) -> np.ndarray:
    """Vectors (..., 3), of any non-zero length, to degrees (..., 2) as (lat, lon)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    lon = np.degrees(np.arctan2(y, x))
    return np.stack([lat, lon], axis=-1)


def haversine_km_np(a, b) -> np.ndarray:
    """Great-circle distance in km between lat/lon arrays (..., 2) that broadcast together."""
    a = np.radians(np.asarray(a, dtype=np.float64))
    b = np.radians(np.asarray(b, dtype=np.float64))
    dlat = b[..., 0] - a[..., 0]
    dlon = b[..., 1] - a[..., 1]
    h = np.sin(dlat / 2) ** 2 + np.cos(a[..., 0]) * np.cos(b[..., 0]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass(frozen=True)
class Cells:
    centroids: np.ndarray  # (k, 2) lat/lon degrees
    labels: np.ndarray  # (n,) int64, the cell of each input location


def default_cell_count(n_locations: int) -> int:
    """About sqrt(n/2) cells, clamped to [2, 50]: enough examples per cell to learn from."""
    return int(min(max(round(np.sqrt(n_locations / 2)), 2), 50))


def make_geocells(latlons, k: int | None = None, seed: int = 0) -> Cells:
    """K-means (scikit-learn, deterministic for a seed) of the locations' unit vectors."""
    from sklearn.cluster import KMeans

    latlons = np.asarray(latlons, dtype=np.float64).reshape(-1, 2)
    xyz = latlon_to_xyz(latlons)
    distinct = len(np.unique(np.round(xyz, 9), axis=0))
    if distinct < 1:
        raise ValueError("make_geocells needs at least one location")
    k = default_cell_count(len(latlons)) if k is None else k
    # More clusters than distinct points would leave empty cells.
    k = max(1, min(k, distinct))
    if k == 1:  # one cell: its centroid is the mean direction (one per city on a world map of one photo each)
        centre = xyz.mean(0, keepdims=True)
        return Cells(centroids=xyz_to_latlon(centre), labels=np.zeros(len(latlons), dtype=np.int64))
    kmeans = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(xyz)
    return Cells(centroids=xyz_to_latlon(kmeans.cluster_centers_), labels=kmeans.labels_.astype(np.int64))


def assign_cells(latlons, centroids) -> np.ndarray:
    """Index of the nearest centroid (great-circle) for each location, e.g. for held-out data."""
    xyz = latlon_to_xyz(np.asarray(latlons, dtype=np.float64).reshape(-1, 2))
    centres = latlon_to_xyz(np.asarray(centroids, dtype=np.float64).reshape(-1, 2))
    return np.argmax(xyz @ centres.T, axis=1).astype(np.int64)


def make_districts(latlons_by_city: Mapping[str, object], per_city_k: int = 10, seed: int = 0) -> dict:
    """Seed 000's second level: k-means inside each city, `per_city_k` districts (fewer if too few points)."""
    return {
        city: make_geocells(latlons, k=per_city_k, seed=seed) for city, latlons in latlons_by_city.items()
    }


def district_offsets(districts: Mapping[str, Cells], cities) -> np.ndarray:
    """Start of each city's districts in one flat district index, for cities in the given order.

    A location in city i, district j (local) has the global district label offsets[i] + j.
    """
    sizes = [len(districts[city].centroids) for city in cities]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
