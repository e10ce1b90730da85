"""Machine players on a real (fixture) map: training, evaluation, and play in-process."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from geogame.common import background
from geogame.common.geo import haversine_km
from geogame.game import services
from geogame.game.models import Game, Guess
from geogame.maps.models import Location, View
from inference import registry
from inference.artefacts import ArtefactError
from inference.evaluation import evaluate_players
from inference.models import TrainedModel
from inference.players import PlayerUnavailable
from inference.training import TrainingError, train, trained_model_create
from players.models import Player
from tests.inference.test_clip_zeroshot import TINY, checkpoint  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def trained(m, name):
    return train(trained_model_create(m=m, name=name), seed=0)


def test_baselines_play_without_training(trainable_map):
    rows = {r["player"]: r for r in evaluate_players(trainable_map, ["random", "centroid"], split="test")}
    assert rows["random"]["n"] == rows["centroid"]["n"] == 3
    centroid = registry.load_player("centroid", trainable_map)
    train_pts = list(Location.objects.filter(map=trainable_map, split="train").values_list("lat", "lon"))

    def mean_points(lat, lon):
        return np.mean(
            [5000 * np.exp(-10 * haversine_km(lat, lon, a, b) / trainable_map.scale_km) for a, b in train_pts]
        )

    best = mean_points(centroid.lat, centroid.lon)
    assert all(mean_points(a, b) <= best + 1e-6 for a, b in train_pts)


def test_random_guesses_stay_in_the_maps_bounding_box(trainable_map):
    locs = list(Location.objects.filter(map=trainable_map))
    preds = registry.load_player("random", trainable_map).predict(locs)
    lats = [loc.lat for loc in locs]
    lons = [loc.lon for loc in locs]
    assert all(min(lats) <= p.lat <= max(lats) and min(lons) <= p.lon <= max(lons) for p in preds)
    assert len({(p.lat, p.lon) for p in preds}) == len(preds)


@pytest.mark.parametrize("name", ["ensemble", "hierarchical", "regression", "transfer"])
def test_each_learned_player_trains_saves_a_versioned_artefact_and_plays(trainable_map, name):
    tm = trained(trainable_map, name)
    assert tm.status == TrainedModel.READY and tm.version == 1
    meta = json.loads(Path(tm.directory, "meta.json").read_text())
    assert meta["player"] == name and meta["version"] == 1 and "labels" in meta and "config" in meta
    assert tm.metrics["best_epoch"] >= 1 and "median_km" in tm.metrics["val"]
    again = trained(trainable_map, name)
    assert again.version == 2
    preds = registry.load_player(name, trainable_map).predict(list(Location.objects.filter(split="test")))
    assert len(preds) == 3 and all(-90 <= p.lat <= 90 and -180 <= p.lon <= 180 for p in preds)
    if name == "hierarchical":
        for p in preds:
            d = p.details
            expected = 1.0 if d["city_confidence"] < 0.5 else 1.0 - d["district_confidence"]
            assert d["privacy_score"] == pytest.approx(expected)


def test_the_ensemble_learns_the_cities_of_the_fixture_map(trainable_map):
    trained(trainable_map, "ensemble")
    rows = {r["player"]: r for r in evaluate_players(trainable_map, ["ensemble", "random"], split="val")}
    assert rows["ensemble"]["accuracy"] == 100.0  # each city has its own colour cast
    assert rows["ensemble"]["mean_points"] > rows["random"]["mean_points"]


def test_features_are_computed_once_and_reused(trainable_map, settings):
    trained(trainable_map, "ensemble")
    cache_dir = settings.DATA_DIR / "features"
    files = sorted(cache_dir.rglob("*.npy"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    train_val_views = View.objects.filter(location__map=trainable_map, location__split__in=("train", "val"))
    assert len(files) >= train_val_views.count() >= 35  # every train and val view
    trained(trainable_map, "hierarchical")
    assert sorted(cache_dir.rglob("*.npy")) == files
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_players_embed_each_views_model_input_stored_at_import_with_the_views_features(trainable_map, caplog):
    """The import stores every view's model input next to it; the players read that instead of
    decoding the view, and get the same features and guesses as from the view itself."""
    import shutil

    from django.core.files.storage import default_storage

    from inference import runtime
    from inference.dataset import location_set, model_input_name

    trained(trainable_map, "ensemble")
    player = registry.load_player("ensemble", trainable_map)
    locations = list(Location.objects.filter(map=trainable_map, split="test").prefetch_related("views"))
    views = [v for loc in locations for v in loc.views.all()]
    inputs = [default_storage.path(model_input_name(v.sha256)) for v in views]
    assert views and all(Path(p).is_file() for p in inputs)

    def computed():
        """Features and guesses with an empty feature cache: the backbone runs on every view."""
        shutil.rmtree(runtime.feature_cache().directory, ignore_errors=True)
        features = location_set(locations).features
        return features, [(p.lat, p.lon, p.city) for p in player.predict(locations)]

    jpegs = [Path(v.image.path) for v in views]
    for jpeg in jpegs:  # the views' JPEGs out of the way: only the model inputs can be read
        jpeg.rename(jpeg.with_suffix(".away"))
    from_inputs = computed()
    for jpeg in jpegs:
        jpeg.with_suffix(".away").rename(jpeg)

    for path in inputs:  # imported before model inputs were stored: the views are decoded
        Path(path).rename(path + ".away")
    from_views = computed()
    Path(inputs[0] + ".away").rename(inputs[0])
    Path(inputs[0]).write_bytes(b"\x93NUMPY garbage")  # unusable: the view is decoded, with a warning
    with caplog.at_level("WARNING", logger="inference.dataset"):
        from_damaged = computed()
    assert f"model input of view {views[0].id} unusable" in caplog.text

    for features, guesses in (from_views, from_damaged):
        assert np.allclose(features, from_inputs[0], atol=1e-5)
        for (lat, lon, city), (lat0, lon0, city0) in zip(guesses, from_inputs[1], strict=True):
            assert (lat, lon, city) == (pytest.approx(lat0, abs=1e-6), pytest.approx(lon0, abs=1e-6), city0)


def test_train_and_evaluate_commands(trainable_map, capsys):
    call_command("train_player", trainable_map.slug, "--player", "ensemble", "--no-progress")
    assert "ensemble v1 on trainable" in capsys.readouterr().out
    call_command("evaluate_player", trainable_map.slug, "--split", "test")
    out = capsys.readouterr().out
    for name in ("random", "centroid", "ensemble"):
        assert f"| {name} | 3 |" in out
    assert "hierarchical: unavailable (no trained hierarchical model" in out
    assert "clip: unavailable (no CLIP weights configured" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["train_player", "nowhere", "--player", "ensemble"], "unknown map 'nowhere'"),
        (["evaluate_player", "nowhere"], "unknown map 'nowhere'"),
    ],
)
def test_commands_reject_unknown_maps(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command(*args)


def test_commands_reject_unknown_players(trainable_map):
    with pytest.raises(CommandError, match="invalid choice: 'oracle'"):
        call_command("train_player", trainable_map.slug, "--player", "oracle")
    with pytest.raises(CommandError, match="unknown player 'oracle'"):
        call_command("evaluate_player", trainable_map.slug, "--players", "random,oracle")
    with pytest.raises(TrainingError, match="player 'centroid' is not trained"):
        trained_model_create(m=trainable_map, name="centroid")


def test_a_map_too_small_to_train_is_a_clear_error(tmp_path):
    from geogame.maps.importer import import_map
    from harness.fixture_map import build_fixture_folder

    build_fixture_folder(tmp_path, per_city=1)
    m = import_map(tmp_path, name="Six").map
    with pytest.raises(CommandError, match="training needs at least 8 train and 2 val locations"):
        call_command("train_player", m.slug, "--player", "ensemble", "--no-progress")
    assert TrainedModel.objects.get().status == TrainedModel.FAILED


@pytest.mark.parametrize("damage", ["weights", "meta", "missing"])
def test_corrupt_artefacts_are_reported_not_played(trainable_map, damage):
    tm = trained(trainable_map, "ensemble")
    registry._load.cache_clear()
    path = f"{tm.directory}/{'weights.pt' if damage != 'meta' else 'meta.json'}"
    if damage == "missing":
        import os

        os.remove(path)
    else:
        with open(path, "wb") as f:
            f.write(b"\x00garbage")
    with pytest.raises(ArtefactError, match="artefact file (corrupt|missing)"):
        registry.load_player("ensemble", trainable_map)
    with pytest.raises(CommandError, match="artefact file"):
        call_command("evaluate_player", trainable_map.slug, "--players", "ensemble")


def test_clip_is_unavailable_without_weights_and_never_plays(trainable_map, settings, tmp_path):
    settings.GEOGAME_CLIP_PRETRAINED = ""
    assert "no CLIP weights configured" in registry.availability("clip", trainable_map)
    with pytest.raises(PlayerUnavailable):
        registry.load_player("clip", trainable_map)
    settings.GEOGAME_CLIP_PRETRAINED = str(tmp_path / "missing.pt")
    with pytest.raises(PlayerUnavailable, match="CLIP checkpoint file not found"):
        registry.load_player("clip", trainable_map)
    with pytest.raises(services.GameError, match="cannot play this map"):
        services.game_create(
            player=Player.objects.create(display_name="A"), map=trainable_map, opponent="clip", mode=Game.CITY
        )


def test_clip_plays_with_configured_weights(trainable_map, settings, checkpoint):  # noqa: F811
    settings.GEOGAME_CLIP_MODEL = TINY
    settings.GEOGAME_CLIP_PRETRAINED = str(checkpoint[0])
    locs = list(Location.objects.filter(map=trainable_map, split="test"))
    preds = registry.load_player("clip", trainable_map).predict(locs)
    labels = {f"{loc.city}, {loc.country}" for loc in Location.objects.filter(map=trainable_map)}
    assert len(preds) == 3 and all(p.city in labels for p in preds)
    assert all(0 < p.details["confidence"] <= 1 for p in preds)


@pytest.mark.django_db(transaction=True)
def test_a_machine_opponent_guesses_at_round_start_and_is_revealed_after_the_player(trainable_map):
    client = Client()
    r = client.post(
        "/", {"display_name": "Ada", "map": trainable_map.slug, "mode": "coordinates", "opponent": "centroid"}
    )
    assert r.status_code == 302, r.content
    game = Game.objects.get()
    s = client.get(f"/api/games/{game.public_id}/").json()
    background.wait_local()
    machine = Guess.objects.get(player__kind=Player.MACHINE)
    assert machine.round.index == 0
    assert s["result"] is None and "centroid" not in json.dumps(s["round"])
    again = client.get(f"/api/games/{game.public_id}/").json()
    assert again["result"] is None  # stored, but not shown before the player's guess
    res = client.post(
        s["round"]["guess_url"], json.dumps({"lat": 0, "lon": 0}), content_type="application/json"
    ).json()["result"]
    assert res["opponent"]["points"] == machine.points and res["opponent"]["guess"]["lat"] == machine.lat
    assert Guess.objects.filter(player__kind=Player.MACHINE).count() == 1


def test_an_unknown_or_unavailable_opponent_is_refused(trainable_map):
    client = Client()
    for opponent, message in [("oracle", "unknown player"), ("ensemble", "no trained ensemble model")]:
        r = client.post(
            "/",
            {"display_name": "Ada", "map": trainable_map.slug, "mode": "coordinates", "opponent": opponent},
        )
        assert r.status_code == 400 and message in r.content.decode()
    assert not Game.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_staff_start_training_from_the_map_page_and_see_progress(trainable_map, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    url = f"/maps/{trainable_map.slug}/players/"
    assert client.get(url).status_code == 200
    r = client.post(url, {"player": "ensemble"})
    assert r.status_code == 302
    background.wait_local(timeout=120)
    status = client.get(f"/api/maps/{trainable_map.slug}/players/").json()
    (model,) = status["models"]
    assert (model["player"], model["status"], model["progress"]) == ("ensemble", "ready", 1.0)
    assert "ensemble" in client.get(url).content.decode()
    assert registry.availability("ensemble", trainable_map) is None


def test_the_map_page_rejects_bad_players_and_non_staff(trainable_map, django_user_model):
    url = f"/maps/{trainable_map.slug}/players/"
    anonymous = Client()
    assert anonymous.get(url).status_code == 302  # to the login page
    assert anonymous.post(url, {"player": "ensemble"}).status_code == 302
    assert anonymous.get(f"/api/maps/{trainable_map.slug}/players/").status_code == 302
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    r = client.post(url, {"player": "centroid"})
    assert r.status_code == 400 and "is not trained" in r.content.decode()
    assert client.get("/maps/no-such-map/players/").status_code == 404
    assert not TrainedModel.objects.exists()
