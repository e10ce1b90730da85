"""The offline base map (issue 16): city labels, lakes and admin-1 lines served as cached JSON
layers, the page's map settings, and the optional tile server (GEOGAME_TILE_URL) with its attribution
and CSP origin."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from geogame.maps.basemap import CITY_LABEL_MIN_POPULATION

REPO = Path(__file__).resolve().parents[1]
URL = "/api/basemap/cities.json"
LAKES_URL = "/api/basemap/lakes.json"
ADMIN1_URL = "/api/basemap/admin1.json"


def test_city_labels_come_most_populous_first_with_caching_headers():
    r = Client().get(URL)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert "public" in r["Cache-Control"] and "max-age=" in r["Cache-Control"]
    cities = json.loads(r.content)["cities"]
    assert len(cities) > 5000
    populations = [c[3] for c in cities]
    assert populations == sorted(populations, reverse=True)
    assert min(populations) >= CITY_LABEL_MIN_POPULATION
    names = {c[0] for c in cities[:50]}
    assert "Tokyo" in names or "Shanghai" in names
    lat, lon = next((c[1], c[2]) for c in cities if c[0] == "Paris")
    assert abs(lat - 48.85) < 0.1 and abs(lon - 2.35) < 0.1


def test_city_labels_answer_304_to_their_etag_and_refuse_writes():
    client = Client()
    etag = client.get(URL)["ETag"]
    again = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert client.post(URL).status_code == 405


@pytest.mark.django_db
def test_pages_carry_the_offline_base_map_settings():
    html = Client().get("/").content.decode()
    config = json.loads(html.split('id="basemap-config" type="application/json">')[1].split("</script>")[0])
    assert config["outlines_url"].endswith("countries-50m.json")
    assert config["cities_url"] == URL
    assert config["lakes_url"] == LAKES_URL and config["admin1_url"] == ADMIN1_URL
    assert config["tile_url"] is None and config["tile_attribution"] is None


def settings_with(env):
    """settings.TILE_URL, TILE_ATTRIBUTION and img-src in a fresh process with `env` set, or the
    error's last line."""
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
        "from django.conf import settings as s; import json;"
        "csp = s.CONTENT_SECURITY_POLICY['DIRECTIVES'];"
        "print(json.dumps([s.TILE_URL, s.TILE_ATTRIBUTION, csp['img-src']]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )
    if run.returncode:
        return run.stderr.strip().splitlines()[-1]
    return json.loads(run.stdout)


def test_a_configured_tile_server_is_credited_and_allowed_by_the_policy():
    url, credit = "https://tiles.example.org/osm/{z}/{x}/{y}.png", "© OpenStreetMap contributors"
    tile_url, attribution, img_src = settings_with(
        {"GEOGAME_TILE_URL": url, "GEOGAME_TILE_ATTRIBUTION": credit}
    )
    assert (tile_url, attribution) == (url, credit)
    assert img_src == ["'self'", "data:", "https://tiles.example.org"]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"GEOGAME_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png"}, "needs GEOGAME_TILE_ATTRIBUTION"),
        (
            {"GEOGAME_TILE_URL": "javascript:alert(1)", "GEOGAME_TILE_ATTRIBUTION": "x"},
            "must be an http(s) URL",
        ),
        ({"GEOGAME_TILE_URL": "https://tiles.example.org/tile.png", "GEOGAME_TILE_ATTRIBUTION": "x"}, "{z}"),
    ],
)
def test_a_bad_tile_setting_stops_the_server_with_one_line(env, message):
    error = settings_with(env)
    assert isinstance(error, str) and "ImproperlyConfigured" in error and message in error


def inside(point, ring):
    """Whether [lon, lat] lies inside a closed ring (ray casting)."""
    x, y = point
    crossings = 0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def lakes_at(features, lat, lon):
    """The names of the lakes whose polygons (outer ring in, no hole around it) hold the point."""
    names = []
    for feature in features:
        for outer, *holes in feature["geometry"]["coordinates"]:
            if inside([lon, lat], outer) and not any(inside([lon, lat], hole) for hole in holes):
                names.append(feature["properties"]["name"])
    return names


def test_the_lakes_layer_holds_the_great_lakes_as_polygons_and_not_the_land_between():
    r = Client().get(LAKES_URL)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert "public" in r["Cache-Control"] and "max-age=" in r["Cache-Control"]
    features = json.loads(r.content)["features"]
    assert len(features) > 200  # Natural Earth 1:50m has some 400 lakes
    assert lakes_at(features, 44.8, -82.4) == ["Lake Huron"]
    assert lakes_at(features, 47.7, -87.5) == ["Lake Superior"]
    assert lakes_at(features, 42.2, -81.2) == ["Lake Erie"]
    assert lakes_at(features, -1.0, 33.0) == ["Lake Victoria"]
    assert lakes_at(features, 43.0, -81.2) == []  # London, Ontario: the land between Huron and Erie
    assert lakes_at(features, 48.85, 2.35) == []  # Paris


def crosses(lines, lat, lon, within_deg=0.05):
    """Whether some line crosses the parallel `lat` within `within_deg` of `lon`."""
    for line in lines:
        for (x1, y1), (x2, y2) in zip(line, line[1:], strict=False):
            if min(y1, y2) <= lat <= max(y1, y2) and y1 != y2:
                x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
                if abs(x - lon) < within_deg:
                    return True
    return False


def test_the_admin1_layer_draws_state_and_province_borders_on_several_continents():
    r = Client().get(ADMIN1_URL)
    assert r.status_code == 200 and "public" in r["Cache-Control"]
    lines = json.loads(r.content)["features"][0]["geometry"]["coordinates"]
    # Colorado/Kansas (102.05 W), Western/South Australia (129 E), Ontario/Manitoba (about 95.15 W
    # at 50 N); none out in the Atlantic.
    assert crosses(lines, 39.0, -102.05)
    assert crosses(lines, -28.0, 129.0)
    assert crosses(lines, 50.0, -95.15)
    assert not crosses(lines, 30.0, -40.0, within_deg=10)


@pytest.mark.parametrize("url", [URL, LAKES_URL, ADMIN1_URL])
def test_every_layer_is_gzipped_for_browsers_that_take_it_and_answers_304_to_its_etag(url):
    client = Client()
    plain = client.get(url)
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert zipped["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content and len(zipped.content) < len(plain.content) / 2
    assert client.get(url, HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    assert client.post(url).status_code == 405


def test_the_committed_lakes_and_admin1_files_are_what_the_shipped_packages_convert_to():
    call_command("basemap_layers", "--check")  # CommandError (a failure) when a file differs
