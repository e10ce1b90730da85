"""A query budget per request (issue 18): the round page, state, guess, next round and summary ask the
database a bounded number of times, and the number does not grow with the map's size or the round
number. The budgets are today's counts; a change that adds a query per request shows up here."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from harness.fixture_map import build_fixture_folder
from tests.conftest import DAILY_MAP_PER_CITY

pytestmark = pytest.mark.django_db

# Per request kind: (solo game, game against a machine). "state" is a later round's poll; the first
# poll of a game draws its first round, like "next" does.
BUDGET = {
    "page": (3, 3),
    "first state": (14, 14),
    "state": (6, 6),
    "guess": (10, 11),
    "next": (14, 14),
    "summary": (8, 8),
}


def _import(tmp_path, name, per_city):
    from geogame.maps.importer import import_map

    folder = tmp_path / name
    folder.mkdir()
    build_fixture_folder(folder, per_city=per_city)
    return import_map(folder, name=name).map


def _queries(send, url, **kwargs):
    with CaptureQueriesContext(connection) as ctx:
        response = send(url, **kwargs)
    assert response.status_code in (200, 201), response.content[:300]
    return len(ctx.captured_queries), response


def play_counting(m, opponent=""):
    """Play a whole game in a new browser; the number of queries of each request, by kind, in order."""
    client = Client()
    r = client.post("/", {"display_name": "Ada", "map": m.slug, "mode": "coordinates", "opponent": opponent})
    assert r.status_code == 302, r.content
    game_id = r["Location"].split("/")[2]
    counts = {kind: [] for kind in BUDGET}
    for i in range(5):
        n, _ = _queries(client.get, f"/play/{game_id}/")
        counts["page"].append(n)
        n, state = _queries(client.get, f"/api/games/{game_id}/")
        counts["first state" if i == 0 else "state"].append(n)
        state = state.json()
        body = json.dumps({"lat": 10.0, "lon": 20.0, "views_seen": [0]})
        n, _ = _queries(client.post, state["round"]["guess_url"], data=body, content_type="application/json")
        counts["guess"].append(n)
        if i < 4:  # after the last round, "next" has nothing to draw
            n, _ = _queries(client.post, state["next_url"])
            counts["next"].append(n)
    n, _ = _queries(client.get, f"/games/{game_id}/summary/")
    counts["summary"].append(n)
    return counts


@pytest.mark.parametrize("opponent", ["", "centroid"], ids=["solo", "against-a-machine"])
def test_each_request_keeps_to_its_query_budget_whatever_the_map_size_or_round(tmp_path, opponent):
    # Both large enough for a daily challenge (tests/conftest.py), which every draw looks up.
    small = _import(tmp_path, "small", per_city=DAILY_MAP_PER_CITY)
    large = _import(tmp_path, "large", per_city=3 * DAILY_MAP_PER_CITY)
    assert large.locations.count() >= 2 * small.locations.count()
    on_small, on_large = play_counting(small, opponent), play_counting(large, opponent)
    assert on_small == on_large, "a request's query count grows with the map's size"
    which = 1 if opponent else 0
    for kind, counts in on_small.items():
        assert len(set(counts)) == 1, f"{kind}: the query count changes with the round number: {counts}"
        assert counts[0] <= BUDGET[kind][which], f"{kind}: {counts[0]} queries, budget {BUDGET[kind][which]}"
