"""Where a class-based player puts its pin.

A classifier gives probabilities over classes (cities, geocells), but the game scores a
point. Dropping the pin on the top class's centroid ignores the rest of the distribution and
the fact that a class is spread over an area. Instead we pick, among candidate points, the one
with the highest expected score: sum_k p_k * mean over class k's locations of points(d).
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from geogame.game.scoring import MAX_POINTS, PERFECT_RADIUS_KM

from .geocells import haversine_km_np

_CANDIDATE_CHUNK = 1024  # bounds the (candidates x locations) distance block held in memory


def points_float(distance_km, scale_km: float):
    """The unrounded score 5000 * exp(-10 d / D), 5000 within 25 m; smooth, for expectations."""
    distance_km = np.asarray(distance_km, dtype=np.float64)
    decayed = MAX_POINTS * np.exp(-10.0 * distance_km / scale_km)
    return np.where(distance_km <= PERFECT_RADIUS_KM, float(MAX_POINTS), decayed)


def points(distance_km, scale_km: float):
    """The score a guess earns: points_float rounded to a whole number."""
    return np.rint(points_float(distance_km, scale_km)).astype(np.int64)


class Guess(NamedTuple):
    lat: float
    lon: float
    expected_points: float
    index: int  # row of the chosen candidate


def candidate_points(centroids, class_points: Sequence) -> np.ndarray:
    """Class centroids followed by every class's locations, as one (M, 2) lat/lon array."""
    parts = [np.asarray(centroids, dtype=np.float64).reshape(-1, 2)]
    parts += [np.asarray(locations, dtype=np.float64).reshape(-1, 2) for locations in class_points]
    return np.concatenate(parts)


def expected_points(
    candidates, probs, class_points: Sequence, scale_km: float, *, mass: float = 0.999
) -> np.ndarray:
    """Expected score (M,) of each candidate when the answer lies in class k with probability p_k,
    anywhere among class k's representative locations with equal chance.

    Only the most likely classes that together hold `mass` of the probability are summed: the
    rest can change a candidate's expectation by at most (1 - mass) * 5000 points.
    """
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) != len(class_points):
        raise ValueError(f"{len(probs)} probabilities for {len(class_points)} classes")
    order = np.argsort(-probs, kind="stable")
    kept = order[: int(np.searchsorted(np.cumsum(probs[order]), mass * probs.sum())) + 1]
    total = np.zeros(len(candidates))
    for k in kept:
        locations = np.asarray(class_points[k], dtype=np.float64).reshape(-1, 2)
        if len(locations) == 0:
            raise ValueError(f"class {k} has no representative points")
        for start in range(0, len(candidates), _CANDIDATE_CHUNK):
            chunk = candidates[start : start + _CANDIDATE_CHUNK]
            km = haversine_km_np(chunk[:, None, :], locations[None, :, :])
            total[start : start + len(chunk)] += probs[k] * points_float(km, scale_km).mean(axis=1)
    return total


def expected_points_guess(
    probs, candidates, class_points: Sequence, scale_km: float, *, mass: float = 0.999
) -> Guess:
    """The candidate with the highest expected score (the first one on a tie)."""
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    scores = expected_points(candidates, probs, class_points, scale_km, mass=mass)
    best = int(np.argmax(scores))
    return Guess(float(candidates[best, 0]), float(candidates[best, 1]), float(scores[best]), best)


def top_class_centroid(probs, centroids) -> np.ndarray:
    """The naive pin, for comparison: the centroid (lat, lon) of the most probable class."""
    return np.asarray(centroids, dtype=np.float64).reshape(-1, 2)[int(np.argmax(probs))]
