"""The offline country lookup (geogame.maps.countries) and the codes stored at import."""

import csv

import pytest

from geogame.maps.countries import COAST_TOLERANCE_KM, country_at, country_name, country_names
from geogame.maps.manifest import parse_manifest
from harness.fixture_map import build_fixture_folder, write_manifest

from .conftest import SHARED_SAMPLE


@pytest.mark.parametrize(
    "lat, lon, code",
    [
        (48.8566, 2.3522, "FR"),  # Paris
        (43.2965, 5.3698, "FR"),  # Marseille, on the coast
        (35.6762, 139.6503, "JP"),  # Tokyo
        (43.0618, 141.3545, "JP"),  # Sapporo, another island
        (-33.8688, 151.2093, "AU"),
        (64.1466, -21.9426, "IS"),
        (42.6629, 21.1655, "XK"),  # Pristina: a feature without an ISO numeric id
        # Near borders (a few km either side):
        (48.5734, 7.7521, "FR"),  # Strasbourg
        (48.5700, 7.8150, "DE"),  # Kehl, across the Rhine
        (46.2044, 6.1432, "CH"),  # Geneva
        (46.1930, 6.2340, "FR"),  # Annemasse
        (32.7157, -117.1611, "US"),  # San Diego
        (32.5149, -117.0382, "MX"),  # Tijuana
        (-16.85, -179.95, "FJ"),  # Fiji, east of the antimeridian
        (-17.7, 178.0, "FJ"),  # and west of it
        (66.0, -172.0, "RU"),  # Chukotka, east of it
    ],
)
def test_points_in_countries(lat, lon, code):
    assert country_at(lat, lon) == code


@pytest.mark.parametrize("lat, lon", [(30.0, -40.0), (0.0, 0.0), (-40.0, 90.0), (35.0, 18.0)])
def test_the_open_sea_is_no_country(lat, lon):
    assert country_at(lat, lon) is None


def test_a_point_just_off_the_coast_takes_the_nearest_country_within_the_tolerance():
    # Brest's harbour mouth: 1:50m outlines cut some coastal streets off.
    assert country_at(48.36, -4.56) == "FR"
    assert country_at(48.36, -4.56, tolerance_km=0) in (None, "FR")
    # Well past the tolerance, west of Brest: the sea.
    assert country_at(48.36, -4.56 - 3 * COAST_TOLERANCE_KM / 74) is None


@pytest.mark.parametrize("lat, lon", [(91, 0), (0, 181), (float("nan"), 0), (0, float("inf"))])
def test_a_point_off_the_earth_is_refused(lat, lon):
    with pytest.raises(ValueError):
        country_at(lat, lon)


def test_country_names_are_sorted_and_named():
    names = country_names()
    assert names["FR"] == "France" and names["JP"] == "Japan" and country_name("XK") == "Kosovo"
    assert list(names.values()) == sorted(names.values())
    assert len(names) > 200 and all(len(code) == 2 and code.isupper() for code in names)


def test_every_location_of_the_demo_pack_is_in_its_manifest_country():
    manifest = SHARED_SAMPLE / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"demo pack not found at {SHARED_SAMPLE}: the lookup is not checked against it")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["iso2"] for r in rows)
    found = {r["id"]: country_at(float(r["lat"]), float(r["lon"])) for r in rows}
    assert {k: v for k, v in found.items() if v is None} == {}
    mismatches = [(r["city"], r["iso2"], found[r["id"]]) for r in rows if found[r["id"]] != r["iso2"]]
    assert mismatches == []


def test_the_manifest_iso2_is_read_and_checked():
    header = "file,lat,lon,iso2\n"
    rows, errors = parse_manifest((header + "a.jpg,48.85,2.35,fr\nb.jpg,48.85,2.35,France\n").encode())
    assert [r.iso2 for r in rows] == ["FR"] and len(errors) == 1 and "iso2" in errors[0].reason


def test_import_stores_the_country_and_warns_of_a_manifest_mismatch(db, tmp_path):
    from geogame.maps.importer import import_map

    folder = tmp_path / "m"
    rows = build_fixture_folder(folder, per_city=1, panoramas=False)
    for row in rows:
        row["iso2"] = {"Germany": "DE", "France": "FR", "Canada": "CA", "Singapore": "SG"}[row["country"]]
    rows[1]["iso2"] = "BE"  # Orleans is in France: a mismatch, reported, the row still imported
    write_manifest(folder, rows)
    report = import_map(folder, name="Countries")
    assert report.errors == [] and report.created == len(rows)
    assert [(w.line, "BE" in w.reason and "FR" in w.reason) for w in report.warnings] == [(3, True)]
    stored = dict(report.map.locations.values_list("city", "country_code"))
    assert stored == {"Stuttgart": "DE", "Orleans": "FR", "Aurora": "CA", "Singapore": "SG", "Hameln": "DE"}


def test_the_import_command_prints_the_warnings(db, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    folder = tmp_path / "m"
    rows = build_fixture_folder(folder, per_city=1, panoramas=False)
    rows[0]["iso2"] = "JP"
    write_manifest(folder, rows)
    err = StringIO()
    call_command("import_map", str(folder), "--name", "Warned", stdout=StringIO(), stderr=err)
    assert "warning: row 2: manifest iso2 is JP but" in err.getvalue()
