"""The retrieval player: nearest training places by backbone features, pin by expected points."""

import numpy as np
import pytest
from django.core.management import call_command

from geogame.maps.models import Location
from inference import registry
from inference.evaluation import evaluate_players
from inference.placement import points_float
from inference.retrieval import location_vectors, nearest, refined_pin, similarity_weights


def test_location_vectors_average_the_unit_views_present():
    features = np.array([[[3.0, 0.0], [0.0, 10.0], [5.0, 5.0]], [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = np.array([[True, True, False], [False, False, False]])
    v = location_vectors(features, mask)
    assert np.allclose(v[0], [np.sqrt(0.5), np.sqrt(0.5)])  # the masked third view is left out
    assert np.allclose(v[1], 0.0)


def test_nearest_orders_by_cosine_and_weights_favour_the_most_similar():
    index = np.array([[1.0, 0.0], [0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    order, sims = nearest(np.array([[0.96, 0.28]]), index, k=2)
    assert order.tolist() == [[0, 2]] and sims[0, 0] > sims[0, 1]
    w = similarity_weights(sims[0], temperature=0.05)
    assert w.sum() == pytest.approx(1.0) and w[0] > w[1]
    assert nearest(np.array([[1.0, 0.0]]), index, k=10)[0].shape == (1, 3)  # k capped


def test_the_pin_maximises_expected_points_over_the_weighted_neighbours():
    points = np.array([[48.85, 2.35], [48.90, 2.30], [40.0, -3.7]])
    weights = np.array([0.3, 0.3, 0.4])
    guess = refined_pin(points, weights, scale_km=1000.0)
    # Two close neighbours together outweigh one far one, though it alone weighs most.
    assert (guess.lat, guess.lon) in [tuple(p) for p in points[:2]]

    def expected(p):
        km = [np.hypot(*(np.subtract(p, q) * [111, 73])) for q in points]
        return float(np.dot(weights, points_float(np.array(km), 1000.0)))

    assert expected((guess.lat, guess.lon)) > expected(tuple(points[2]))


@pytest.mark.django_db
def test_retrieval_plays_without_training_and_beats_random(trainable_map, settings):
    registry._load.cache_clear()
    assert registry.availability("retrieval", trainable_map) is None
    rows = {r["player"]: r for r in evaluate_players(trainable_map, ["retrieval", "random"], split="val")}
    assert rows["retrieval"]["n"] == 7
    assert rows["retrieval"]["accuracy"] > rows["random"]["accuracy"]
    assert rows["retrieval"]["mean_points"] > rows["random"]["mean_points"]
    # The pin is always one of the training places it retrieved.
    player = registry.load_player("retrieval", trainable_map)
    train = {
        tuple(p) for p in Location.objects.filter(map=trainable_map, split="train").values_list("lat", "lon")
    }
    preds = player.predict(list(Location.objects.filter(map=trainable_map, split="test")))
    assert all((p.lat, p.lon) in train and -1 <= p.details["similarity"] <= 1 for p in preds)
    # Its features are cached: a fresh load computes none again.
    files = sorted((settings.DATA_DIR / "features").rglob("*.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    registry._load.cache_clear()
    registry.load_player("retrieval", trainable_map)
    assert [f.stat().st_mtime_ns for f in sorted((settings.DATA_DIR / "features").rglob("*.npy"))] == mtimes
    # A game against it never draws a place it retrieves from.
    assert set(Location.objects.filter(map=trainable_map, split="train").values_list("id", flat=True)) <= set(
        registry.excluded_location_ids("retrieval", trainable_map)
    )
    registry._load.cache_clear()


@pytest.mark.django_db
def test_evaluate_player_lists_retrieval(trainable_map, capsys):
    registry._load.cache_clear()
    call_command("evaluate_player", trainable_map.slug, "--split", "test", "--players", "retrieval,centroid")
    out = capsys.readouterr().out
    assert "| retrieval | 3 |" in out and "| centroid | 3 |" in out
    registry._load.cache_clear()
