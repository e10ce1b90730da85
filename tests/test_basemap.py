"""The offline base map (issue 16): city labels served as one cached JSON layer, the page's map
settings, and the optional tile server (GEOGAME_TILE_URL) with its attribution and CSP origin."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from geogame.maps.basemap import CITY_LABEL_MIN_POPULATION

REPO = Path(__file__).resolve().parents[1]
URL = "/api/basemap/cities.json"


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
