"""City maps score coordinate guesses on their own extent, as region maps do."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from geogame.common.geo import haversine_km
from geogame.game.scoring import points_for_distance
from geogame.maps.importer import import_map
from geogame.maps.models import Map
from geogame.maps.rules import WORLD_SCALE_KM, map_scale_km, region_scale_km
from harness.fixture_map import make_image_bytes, write_manifest

MUNICH, AUGSBURG = (48.137, 11.575), (48.366, 10.898)


def test_map_scale_by_kind():
    points = [MUNICH, AUGSBURG]
    assert map_scale_km("world", points) == WORLD_SCALE_KM
    assert map_scale_km("region", points) == map_scale_km("city", points) == region_scale_km(points)
    assert map_scale_km("city", []) == WORLD_SCALE_KM  # nothing imported yet


def two_city_folder(folder):
    (folder / "images").mkdir(parents=True)
    rows = []
    for i, (city, (lat, lon)) in enumerate([("Munich", MUNICH), ("Augsburg", AUGSBURG)] * 2):
        (folder / f"images/{i}.jpg").write_bytes(make_image_bytes(size=(96, 64), seed=i))
        lat, lon = lat + 0.01 * i, lon - 0.01 * i
        rows.append({"file": f"images/{i}.jpg", "lat": lat, "lon": lon, "city": city, "country": "Germany"})
    write_manifest(folder, rows)
    return [(float(r["lat"]), float(r["lon"])) for r in rows]


@pytest.mark.django_db
def test_a_city_map_scores_on_its_own_diagonal_so_a_5_km_miss_is_no_longer_nearly_perfect(tmp_path):
    points = two_city_folder(tmp_path / "two")
    m = import_map(tmp_path / "two", name="Two cities", kind=Map.CITY).map
    assert m.scale_km == pytest.approx(region_scale_km(points)) and 50 < m.scale_km < 70
    assert points_for_distance(5, WORLD_SCALE_KM) == 4983  # the report: the world scale
    assert points_for_distance(5, m.scale_km) < 2500


@pytest.mark.django_db
def test_the_migration_recomputes_existing_city_maps_and_leaves_others(tmp_path):
    points = two_city_folder(tmp_path / "two")
    city = import_map(tmp_path / "two", name="Old city map", kind=Map.CITY).map
    world = import_map(tmp_path / "two", name="World map").map
    Map.objects.filter(pk=city.pk).update(scale_km=WORLD_SCALE_KM)  # as imported before the fix
    migration = importlib.import_module("geogame.migrations.0007_city_map_scale")
    # The models as that migration saw them (then in the geogame app; the tables are the same).
    apps = MigrationLoader(connection).project_state(("geogame", "0007_city_map_scale")).apps
    migration.city_maps_on_their_own_scale(apps, None)
    city.refresh_from_db()
    world.refresh_from_db()
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    expected = haversine_km(min(lats), min(lons), max(lats), max(lons))
    assert city.scale_km == pytest.approx(expected)
    assert world.scale_km == WORLD_SCALE_KM
    migration.city_maps_on_the_world_scale(apps, None)
    city.refresh_from_db()
    assert city.scale_km == WORLD_SCALE_KM
