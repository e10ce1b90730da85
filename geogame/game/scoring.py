"""GeoGuessr-style scoring. Pure functions; no Django.

points = round(5000 * exp(-10 * d / D)) with D the map's scale in km; the
world map's D is 14916.862 km, so points fall by e every ~1492 km; region and city
maps use their locations' extent (geogame.maps.rules.map_scale_km). A guess within 25 m earns the full 5000.
"""

import math
from dataclasses import dataclass

from geogame.common.geo import haversine_km
from geogame.maps.rules import WORLD_SCALE_KM

MAX_POINTS = 5000
PERFECT_RADIUS_KM = 0.025


def points_for_distance(distance_km, scale_km=WORLD_SCALE_KM):
    if distance_km < 0 or not math.isfinite(distance_km):
        raise ValueError(f"distance must be a finite non-negative number, got {distance_km}")
    if scale_km <= 0:
        raise ValueError(f"map scale must be positive, got {scale_km}")
    if distance_km <= PERFECT_RADIUS_KM:
        return MAX_POINTS
    return round(MAX_POINTS * math.exp(-10.0 * distance_km / scale_km))


@dataclass(frozen=True)
class GuessScore:
    distance_km: float
    points: int
    correct: bool | None = None  # city mode only


def score_guess(*, answer, guess, scale_km=WORLD_SCALE_KM):
    """Score a map guess: answer and guess are (lat, lon)."""
    d = haversine_km(answer[0], answer[1], guess[0], guess[1])
    return GuessScore(distance_km=d, points=points_for_distance(d, scale_km))


def score_city_guess(*, answer, answer_city, chosen_city, chosen_centre):
    """Score a multiple-choice guess: right or wrong, plus the distance from the
    location to the chosen city's centre (so near misses are visible)."""
    d = haversine_km(answer[0], answer[1], chosen_centre[0], chosen_centre[1])
    correct = chosen_city == answer_city
    return GuessScore(distance_km=d, points=MAX_POINTS if correct else 0, correct=correct)
