"""City centres are stored on the map when its locations are imported or built, and read from there:
a city-mode request does not recompute them from every location."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from geogame.common.geo import spherical_mean
from geogame.game.selectors import city_centres
from geogame.maps.importer import import_map
from geogame.maps.models import Map
from harness.fixture_map import make_image_bytes, write_manifest

pytestmark = pytest.mark.django_db

MUNICH, AUGSBURG, ULM = (48.137, 11.575), (48.366, 10.898), (48.398, 9.991)


def city_folder(folder, cities, first=0):
    (folder / "images").mkdir(parents=True)
    rows = []
    for i, (city, (lat, lon)) in enumerate(cities, start=first):
        (folder / f"images/{i}.jpg").write_bytes(make_image_bytes(size=(96, 64), seed=i))
        lat, lon = lat + 0.01 * i, lon - 0.01 * i
        rows.append({"file": f"images/{i}.jpg", "lat": lat, "lon": lon, "city": city, "country": "Germany"})
    write_manifest(folder, rows)
    return rows


def expected_centres(rows):
    by_city = {}
    for r in rows:
        by_city.setdefault(f"{r['city']}, {r['country']}", []).append((float(r["lat"]), float(r["lon"])))
    return {label: spherical_mean(points) for label, points in sorted(by_city.items())}


def test_an_import_stores_each_citys_centre_and_a_request_reads_them_without_a_query(
    tmp_path, django_assert_num_queries
):
    rows = city_folder(tmp_path / "a", [("Munich", MUNICH), ("Augsburg", AUGSBURG)] * 2)
    import_map(tmp_path / "a", name="Cities", kind=Map.CITY)
    m = Map.objects.get(slug="cities")
    assert sorted(m.city_centres) == ["Augsburg, Germany", "Munich, Germany"]  # jsonb keeps no key order
    with django_assert_num_queries(0):
        centres = city_centres(m)
    assert list(centres) == list(expected_centres(rows))
    for label, centre in expected_centres(rows).items():
        assert centres[label] == pytest.approx(centre)


def test_importing_more_locations_refreshes_the_stored_centres(tmp_path):
    first = city_folder(tmp_path / "a", [("Munich", MUNICH), ("Augsburg", AUGSBURG)])
    import_map(tmp_path / "a", name="Cities", kind=Map.CITY)
    more = city_folder(tmp_path / "b", [("Ulm", ULM), ("Munich", MUNICH)], first=2)
    import_map(tmp_path / "b", name="Cities", kind=Map.CITY)
    centres = city_centres(Map.objects.get(slug="cities"))
    assert list(centres) == ["Augsburg, Germany", "Munich, Germany", "Ulm, Germany"]
    assert centres["Munich, Germany"] == pytest.approx(expected_centres(first + more)["Munich, Germany"])


def test_the_migration_stores_the_centres_of_maps_imported_before(tmp_path):
    rows = city_folder(tmp_path / "a", [("Munich", MUNICH), ("Augsburg", AUGSBURG)] * 2)
    import_map(tmp_path / "a", name="Cities", kind=Map.CITY)
    Map.objects.update(city_centres={})  # as every map was before the field
    migration = importlib.import_module("geogame.maps.migrations.0002_map_city_centres")
    apps = MigrationLoader(connection).project_state(("maps", "0002_map_city_centres")).apps
    migration.store_city_centres(apps, None)
    centres = city_centres(Map.objects.get(slug="cities"))
    assert list(centres) == list(expected_centres(rows))
    for label, centre in expected_centres(rows).items():
        assert centres[label] == pytest.approx(centre)
