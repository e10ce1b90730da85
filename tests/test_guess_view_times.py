"""The classic game keeps the time on each view and the window size that play.js sends."""

import json

import pytest
from django.test import Client

from geogame.game.models import Guess, Round
from tests.test_game_api import start_game, state

pytestmark = pytest.mark.django_db


def guess(client, url, **extra):
    body = {"lat": 10.0, "lon": 20.0, "views_seen": [0], **extra}
    return client.post(url, json.dumps(body), content_type="application/json")


def test_view_times_and_screen_are_stored_with_the_guess(fixture_map):
    client = Client()
    game = start_game(client, fixture_map)
    s = state(client, game)
    n_views = Round.objects.get(game=game, index=0).location.views.count()
    view_ms = [1200 + k for k in range(n_views)]
    r = guess(client, s["round"]["guess_url"], view_ms=view_ms, screen={"w": 1280, "h": 720})
    assert r.status_code == 201, r.content
    stored = Guess.objects.get(round__game=game)
    assert (stored.view_ms, stored.screen_w, stored.screen_h) == (view_ms, 1280, 720)


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"view_ms": "lots"}, "'view_ms' must list the milliseconds"),
        ({"view_ms": [-5]}, "'view_ms' must"),
        ({"view_ms": [1.5]}, "'view_ms' must"),
        ({"screen": [1280, 720]}, "'screen' must be an object"),
        ({"screen": {"w": 0, "h": 720}}, "'screen.w' must be a whole number"),
        ({"screen": {"w": 1280, "h": 10**6}}, "'screen.h' must be a whole number"),
    ],
)
def test_bad_view_times_or_screen_get_a_400_and_no_guess(fixture_map, extra, message):
    client = Client()
    game = start_game(client, fixture_map)
    s = state(client, game)
    r = guess(client, s["round"]["guess_url"], **extra)
    assert r.status_code == 400 and message in r.json()["error"], r.content
    assert not Guess.objects.exists()
    ok = guess(client, s["round"]["guess_url"])  # nothing lost: the round still takes a guess
    assert ok.status_code == 201
