import numpy as np
import pytest
import torch

from inference import heads
from inference.geocells import haversine_km_np, latlon_to_xyz

DIM = 16


def views_of(targets_for_features, n_classes, views=3, noise=1.0, seed=0, means=None):
    """Features (N, V, DIM) around a per-class mean, with some views missing."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 2.0, (n_classes, DIM)) if means is None else means
    n = len(targets_for_features)
    features = means[targets_for_features][:, None, :] + rng.normal(0, noise, (n, views, DIM))
    mask = rng.random((n, views)) < 0.8
    mask[:, 0] = True
    features[~mask] = np.nan  # missing views must never be read
    return features.astype(np.float32), mask, means


def flat_data(n, n_classes=4, seed=0, means=None):
    rng = np.random.default_rng(seed + 100)
    y = rng.integers(0, n_classes, n)
    features, mask, means = views_of(y, n_classes, seed=seed, means=means)
    return heads.ViewSet(features, y, mask), means


def test_a_flat_head_learns_separable_classes_and_predicts_per_location():
    train, means = flat_data(300, seed=0)
    val, _ = flat_data(100, seed=1, means=means)
    head = heads.FlatHead(DIM, 4, hidden=32)
    result = heads.train_head(head, train, val, max_epochs=40, patience=5, lr=1e-2, seed=0)
    assert result.history[-1]["epoch"] == len(result.history)
    assert result.history[result.best_epoch - 1]["accuracy"] >= 0.95
    probs = heads.predict_proba_views(head, val.features, val.mask)
    assert probs.shape == (100, 4)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == val.targets).mean() >= 0.95


def test_training_stops_early_once_the_validation_loss_rises_and_keeps_the_best_epoch():
    train, means = flat_data(200, seed=0)
    val, _ = flat_data(100, seed=1, means=means)
    shuffled = heads.ViewSet(val.features, (val.targets + 1) % 4, val.mask)  # wrong labels: val loss climbs
    seen = []
    head = heads.FlatHead(DIM, 4)
    result = heads.train_head(
        head, train, shuffled, max_epochs=200, patience=3, lr=1e-2, progress=seen.append
    )
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3 < 200
    assert seen == result.history
    val_losses = [row["val_loss"] for row in result.history]
    assert result.best_epoch == int(np.argmin(val_losses)) + 1
    assert val_losses[-1] > val_losses[result.best_epoch - 1]
    restored = heads.cross_entropy_loss(
        heads.location_outputs(head, shuffled.features, shuffled.mask), torch.as_tensor(shuffled.targets)
    )
    assert restored.item() == pytest.approx(val_losses[result.best_epoch - 1], rel=1e-5)


def test_training_is_deterministic_for_a_seed():
    train, means = flat_data(120, seed=0)
    val, _ = flat_data(40, seed=1, means=means)
    runs = []
    for seed in (3, 3, 4):
        head = heads.FlatHead(DIM, 4, hidden=8, dropout=0.3)
        heads.train_head(head, train, val, max_epochs=5, seed=seed)
        runs.append(head.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not torch.equal(runs[0]["net.1.weight"], runs[2]["net.1.weight"])


def hand_made_head():
    """Logits equal to the 2-d input features: no standardisation, no dropout."""
    head = heads.FlatHead(2, 2, dropout=0.0)
    with torch.no_grad():
        head.net[1].weight.copy_(torch.eye(2))
        head.net[1].bias.zero_()
    return head


def test_views_are_combined_by_averaging_logits_before_the_softmax():
    features = np.array([[[4.0, 0.0], [0.0, 2.0], [90.0, -90.0]]], dtype=np.float32)
    mask = np.array([[True, True, False]])  # the third, extreme view is missing
    probs = heads.predict_proba_views(hand_made_head(), features, mask)
    expected = torch.tensor([2.0, 1.0]).softmax(0).numpy()
    assert np.allclose(probs[0], expected, atol=1e-6)
    averaged_probs = (torch.tensor([4.0, 0.0]).softmax(0) + torch.tensor([0.0, 2.0]).softmax(0)) / 2
    assert not np.allclose(probs[0], averaged_probs.numpy(), atol=1e-3)


def test_a_location_without_any_view_is_refused():
    with pytest.raises(ValueError, match="at least one view"):
        heads.predict_proba_views(hand_made_head(), np.zeros((1, 2, 2)), np.zeros((1, 2), dtype=bool))


def test_the_hierarchical_head_feeds_city_probabilities_into_the_district_head():
    head = heads.HierarchicalHead(DIM, n_cities=2, n_districts=6, dropout=0.0).eval()
    assert head.district[1].in_features == DIM + 2
    x = torch.randn(5, DIM)
    _, before = head(x)
    with torch.no_grad():
        head.city[1].bias += torch.tensor([5.0, -5.0])
    _, after = head(x)
    assert not torch.allclose(before, after)


def test_the_hierarchical_head_learns_cities_and_their_districts():
    rng = np.random.default_rng(0)
    district_means = rng.normal(0, 2.0, (6, DIM))
    district_means[3:] += 4.0  # city 1's districts lie together, apart from city 0's

    def data(n, seed):
        district = np.random.default_rng(seed).integers(0, 6, n)
        features, mask, _ = views_of(district, 6, seed=seed, means=district_means, noise=0.7)
        return heads.ViewSet(features, np.stack([district // 3, district], axis=1), mask)

    head = heads.HierarchicalHead(DIM, n_cities=2, n_districts=6)
    result = heads.train_head(head, data(300, 1), data(100, 2), max_epochs=40, patience=5, lr=1e-2)
    best = result.history[result.best_epoch - 1]
    assert best["city_accuracy"] >= 0.95 and best["district_accuracy"] >= 0.9
    city_probs, district_probs = heads.predict_proba_views(head, data(100, 2).features, data(100, 2).mask)
    assert city_probs.shape == (100, 2) and district_probs.shape == (100, 6)


def test_the_privacy_score_is_one_for_an_unsure_city_else_the_district_doubt():
    scores = heads.privacy_score([0.3, 0.9, 0.9], [0.99, 0.7, 0.2], c=0.5)
    assert scores.tolist() == pytest.approx([1.0, 0.3, 0.8])
    assert heads.privacy_score(0.5, 0.25) == pytest.approx(0.75)


def test_the_regression_head_learns_to_point_at_locations():
    rng = np.random.default_rng(0)
    projection = rng.normal(0, 1.0, (3, DIM))

    def data(n, seed):
        r = np.random.default_rng(seed)
        # Uniform over the globe: latitude from the arcsine of a uniform height.
        latlons = np.stack([np.degrees(np.arcsin(r.uniform(-1, 1, n))), r.uniform(-180, 180, n)], axis=1)
        xyz = latlon_to_xyz(latlons)
        features = (xyz @ projection)[:, None, :] + r.normal(0, 0.01, (n, 2, DIM))
        return heads.ViewSet(features.astype(np.float32), xyz.astype(np.float32)), latlons

    (train, _), (val, val_latlons) = data(400, 1), data(100, 2)
    head = heads.RegressionHead(DIM, dropout=0.0)
    result = heads.train_head(head, train, val, max_epochs=150, patience=20, lr=3e-2)
    predicted = heads.predict_latlon_views(head, val.features)
    km = haversine_km_np(predicted, val_latlons)
    assert np.median(km) < 100  # random guessing: about 10,000 km
    assert result.history[result.best_epoch - 1]["median_km"] == pytest.approx(np.median(km), rel=1e-3)


def test_the_great_circle_loss_is_the_angle_between_the_points():
    a = torch.tensor([[2.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 1.0, 0.0]])
    assert heads.great_circle_loss(a, b).item() == pytest.approx(np.pi / 2)
    assert heads.cosine_loss(a, b).item() == pytest.approx(1.0)
