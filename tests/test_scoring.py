import math

import pytest
from geopy.distance import great_circle

from geogame.common.geo import EARTH_RADIUS_KM, check_latlon, haversine_km, spherical_mean
from geogame.game.scoring import MAX_POINTS, points_for_distance, score_city_guess, score_guess
from geogame.maps.rules import WORLD_SCALE_KM, region_scale_km

PAIRS = [
    ((52.1024, 9.3560), (43.9985, -79.4578)),  # Hameln -> Aurora
    ((1.3521, 103.8198), (47.9022, 1.9104)),  # Singapore -> Orleans
    ((0.0, 179.9), (0.0, -179.9)),  # across the antimeridian
    ((89.9, 0.0), (-89.9, 180.0)),  # nearly antipodal
    ((48.7758, 9.1829), (48.7758, 9.1829)),  # same point
]


@pytest.mark.parametrize("a,b", PAIRS)
def test_haversine_agrees_with_geopy_great_circle(a, b):
    assert haversine_km(*a, *b) == pytest.approx(great_circle(a, b, radius=EARTH_RADIUS_KM).km, abs=1e-6)


def test_haversine_is_symmetric_and_zero_on_the_diagonal():
    a, b = PAIRS[0]
    assert haversine_km(*a, *b) == pytest.approx(haversine_km(*b, *a))
    assert haversine_km(*a, *a) == 0


def test_world_points_fall_by_e_every_1492_km():
    assert points_for_distance(WORLD_SCALE_KM / 10) == round(5000 / math.e)
    assert points_for_distance(1000) == round(5000 * math.exp(-1000 / 1491.6862))


def test_full_points_within_25_metres_and_not_beyond():
    # A 1 km map makes the 25 m rule visible: exp(-0.25) alone would give 3894.
    assert points_for_distance(0.0, scale_km=1) == MAX_POINTS
    assert points_for_distance(0.025, scale_km=1) == MAX_POINTS
    assert points_for_distance(0.026, scale_km=1) == round(5000 * math.exp(-0.26))


def test_points_use_the_map_scale():
    assert points_for_distance(100, scale_km=1000) == round(5000 * math.exp(-1))


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_points_reject_bad_distances(bad):
    with pytest.raises(ValueError):
        points_for_distance(bad)


def test_score_guess_returns_distance_and_points():
    a, b = PAIRS[1]
    s = score_guess(answer=a, guess=b)
    assert s.distance_km == pytest.approx(great_circle(a, b, radius=EARTH_RADIUS_KM).km)
    assert s.points == round(5000 * math.exp(-10 * s.distance_km / WORLD_SCALE_KM))
    assert s.correct is None


def test_city_guess_is_right_or_wrong_with_distance_to_the_chosen_centre():
    right = score_city_guess(
        answer=(48.78, 9.18),
        answer_city="Stuttgart, Germany",
        chosen_city="Stuttgart, Germany",
        chosen_centre=(48.77, 9.17),
    )
    wrong = score_city_guess(
        answer=(48.78, 9.18),
        answer_city="Stuttgart, Germany",
        chosen_city="Hameln, Germany",
        chosen_centre=(52.10, 9.36),
    )
    assert (right.correct, right.points) == (True, 5000)
    assert (wrong.correct, wrong.points) == (False, 0)
    assert wrong.distance_km == pytest.approx(haversine_km(48.78, 9.18, 52.10, 9.36))


def test_region_scale_is_the_bounding_box_diagonal():
    pts = [(48.7, 9.1), (48.8, 9.3), (48.75, 9.2)]
    assert region_scale_km(pts) == pytest.approx(haversine_km(48.7, 9.1, 48.8, 9.3))
    assert region_scale_km([(1.0, 1.0)]) == 1.0


def test_spherical_mean_handles_the_antimeridian():
    lat, lon = spherical_mean([(0.0, 179.0), (0.0, -179.0)])
    assert lat == pytest.approx(0.0, abs=1e-9)
    assert abs(lon) == pytest.approx(180.0)


@pytest.mark.parametrize(
    "lat,lon,message",
    [
        ("x", 0, "must be numbers"),
        (None, 0, "must be numbers"),
        (float("nan"), 0, "finite"),
        (0, float("inf"), "finite"),
        (90.5, 0, "latitude 90.5 is outside"),
        (0, -180.01, "longitude -180.01 is outside"),
    ],
)
def test_check_latlon_says_what_is_wrong(lat, lon, message):
    with pytest.raises(ValueError, match=message):
        check_latlon(lat, lon)
