"""GeoGuessr-style scoring. Pure functions; no Django.

points = round(5000 * exp(-10 * d / D)) with D the map's scale in km; the
world map's D is 14916.862 km, so points fall by e every ~1492 km; region and city
maps use their locations' extent (map_scale_km). A guess within 25 m earns the full 5000.
"""

import math
from dataclasses import dataclass

from .geo import bounding_box, haversine_km

MAX_POINTS = 5000
WORLD_SCALE_KM = 14916.862
PERFECT_RADIUS_KM = 0.025


def points_for_distance(distance_km, scale_km=WORLD_SCALE_KM):
    if distance_km < 0 or not math.isfinite(distance_km):
        raise ValueError(f"distance must be a finite non-negative number, got {distance_km}")
    if scale_km <= 0:
        raise ValueError(f"map scale must be positive, got {scale_km}")
    if distance_km <= PERFECT_RADIUS_KM:
        return MAX_POINTS
    return round(MAX_POINTS * math.exp(-10.0 * distance_km / scale_km))


def region_scale_km(points):
    """Scale of a region map: the diagonal of its locations' bounding box
    (GeoGuessr's rule), never below 1 km so tiny maps still score sensibly."""
    min_lat, min_lon, max_lat, max_lon = bounding_box(points)
    return max(1.0, haversine_km(min_lat, min_lon, max_lat, max_lon))


def map_scale_km(kind, points):
    """D of a map of this kind ("world", "region" or "city", as geogame.models.Map.kind) with
    these (lat, lon) locations. World maps: the world scale. Region and city maps: their own
    extent, as region_scale_km, so a 5 km miss on a map of a few cities is not nearly perfect
    (city mode scores the right city 5000 and any other 0; coordinate games on a city map score
    on its extent). A map without locations yet: the world scale."""
    if kind == "world" or not points:
        return WORLD_SCALE_KM
    return region_scale_km(points)


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
