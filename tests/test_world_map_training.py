"""Learned players on a world map of single-view photos, one per city (as new users build them):
most val and test cities are unseen in train, and each city has one district."""

import numpy as np
import pytest
from django.core.management import call_command

from geogame.maps.models import Location, Map
from harness.fixture_map import make_image_bytes, write_manifest
from inference import registry
from inference.models import TrainedModel

pytestmark = pytest.mark.django_db

N_CITIES = 70
LEARNED = ["ensemble", "transfer", "hierarchical", "regression"]


def build_world_folder(folder, n=N_CITIES, seed=7):
    """`n` tiny photos, each in its own city, scattered over the inhabited latitudes."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        lat, lon = rng.uniform(-50, 65), rng.uniform(-175, 175)
        name = f"images/city{i:03d}.jpg"
        (folder / name).write_bytes(make_image_bytes(size=(80, 64), seed=i))
        rows.append(
            {
                "id": f"w{i}",
                "file": name,
                "lat": f"{lat:.5f}",
                "lon": f"{lon:.5f}",
                "city": f"City {i}",
                "country": f"Country {i % 23}",
                "license": "CC0",
            }
        )
    write_manifest(folder, rows)


@pytest.fixture
def world_map(tmp_path):
    from geogame.maps.importer import import_map

    folder = tmp_path / "world"
    build_world_folder(folder)
    report = import_map(folder, name="Single view world")
    assert not report.errors and report.created == N_CITIES
    return report.map


def test_every_learned_player_trains_and_guesses_on_a_world_map_of_one_photo_per_city(world_map, capsys):
    """The whole operator path (train_player, then play the test split) for each learned player;
    hierarchical used to crash at its first val step (float targets from an empty val set)."""
    registry._load.cache_clear()
    assert world_map.kind == Map.WORLD
    test = list(Location.objects.filter(map=world_map, split=Location.TEST).prefetch_related("views"))
    val_cities = set(
        Location.objects.filter(map=world_map, split=Location.VAL).values_list("city", flat=True)
    )
    train_cities = set(
        Location.objects.filter(map=world_map, split=Location.TRAIN).values_list("city", flat=True)
    )
    assert test and val_cities and not val_cities & train_cities  # the case that crashed
    for name in LEARNED:
        call_command("train_player", world_map.slug, "--player", name, "--no-progress")
        tm = TrainedModel.objects.get(map=world_map, player_name=name)
        assert tm.status == TrainedModel.READY, tm.error
        assert np.isfinite(tm.metrics["val"]["median_km"])
        assert tm.metrics["val_locations"] == len(val_cities)
        preds = registry.load_player(name, world_map).predict(test)
        assert len(preds) == len(test)
        assert all(-90 <= p.lat <= 90 and -180 <= p.lon <= 180 for p in preds)
    registry._load.cache_clear()
