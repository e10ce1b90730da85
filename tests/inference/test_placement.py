import numpy as np
import pytest

from inference import placement
from inference.geocells import haversine_km_np


def test_points_fall_off_with_distance_and_are_full_within_25_metres():
    assert placement.points(0.02, 100.0) == 5000
    assert placement.points_float(0.03, 100.0) < 5000
    assert placement.points(10.0, 100.0) == round(5000 * np.exp(-1.0))
    assert placement.points_float([0.0, 50.0, 100.0], 100.0).tolist() == pytest.approx(
        [5000.0, 5000 * np.exp(-5), 5000 * np.exp(-10)]
    )


def test_the_expected_points_guess_follows_the_probability_mass_not_the_top_class():
    # Class 0 alone is the most probable, but classes 1 and 2, side by side, hold more
    # together; they share the location at lon 10.2, which is neither class's centroid.
    centroids = np.array([[0.0, 0.0], [0.0, 10.1], [0.0, 10.3]])
    class_points = [
        np.array([[0.0, 0.0]]),
        np.array([[0.0, 10.0], [0.0, 10.2]]),
        np.array([[0.0, 10.2], [0.0, 10.4]]),
    ]
    probs = np.array([0.4, 0.3, 0.3])
    candidates = placement.candidate_points(centroids, class_points)
    scale_km = 2000.0

    guess = placement.expected_points_guess(probs, candidates, class_points, scale_km)
    naive = placement.top_class_centroid(probs, centroids)
    assert naive.tolist() == [0.0, 0.0]
    assert (guess.lat, guess.lon) == (0.0, 10.2)
    naive_score = placement.expected_points(naive, probs, class_points, scale_km)[0]
    assert guess.expected_points > naive_score + 500
    assert guess.expected_points == pytest.approx(
        placement.expected_points(candidates, probs, class_points, scale_km).max()
    )


def test_the_guess_is_never_worse_in_expectation_than_the_top_class_centroid():
    rng = np.random.default_rng(0)
    centroids = rng.uniform([40, -5], [55, 15], (6, 2))
    class_points = [c + rng.normal(0, 0.5, (8, 2)) for c in centroids]
    candidates = placement.candidate_points(centroids, class_points)
    for _ in range(5):
        probs = rng.dirichlet(np.ones(6))
        guess = placement.expected_points_guess(probs, candidates, class_points, 1500.0)
        naive = placement.top_class_centroid(probs, centroids)
        assert (
            guess.expected_points >= placement.expected_points(naive, probs, class_points, 1500.0)[0] - 1e-9
        )


def test_a_certain_class_gets_its_best_point_the_middle_of_its_locations():
    class_points = [np.array([[0.0, 0.0], [0.0, 0.1], [0.0, 0.2]]), np.array([[30.0, 30.0]])]
    centroids = np.array([[0.0, 0.3], [30.0, 30.0]])  # class 0's centroid deliberately off-centre
    candidates = placement.candidate_points(centroids, class_points)
    guess = placement.expected_points_guess([1.0, 0.0], candidates, class_points, 500.0)
    assert (guess.lat, guess.lon) == (0.0, 0.1)
    expected = placement.points_float(haversine_km_np([0.0, 0.1], class_points[0]), 500.0).mean()
    assert guess.expected_points == pytest.approx(expected)


def test_negligible_classes_are_skipped_without_moving_the_expectation_much():
    rng = np.random.default_rng(1)
    class_points = [rng.uniform(-10, 10, (5, 2)) for _ in range(20)]
    probs = rng.dirichlet(np.full(20, 0.2))
    candidates = np.concatenate(class_points)
    exact = placement.expected_points(candidates, probs, class_points, 1000.0, mass=1.0)
    approx = placement.expected_points(candidates, probs, class_points, 1000.0)
    assert np.all(np.abs(exact - approx) <= 0.001 * 5000 + 1e-9)


def test_probabilities_must_match_the_classes():
    with pytest.raises(ValueError, match="2 probabilities for 3 classes"):
        placement.expected_points([[0, 0]], [0.5, 0.5], [np.zeros((1, 2))] * 3, 100.0)


def test_the_vectorised_score_agrees_with_the_games_scorer():
    # placement keeps its own numpy copy so the inference core imports no Django; it must not drift.
    from geogame.game.scoring import points_for_distance

    distances = [0.0, 0.025, 0.026, 1.0, 149.2, 1491.7, 5000.0, 20000.0]
    for scale_km in (14916.862, 350.0):
        expected = [points_for_distance(d, scale_km) for d in distances]
        assert placement.points(distances, scale_km).tolist() == expected
