"""Challenge links (geogame/challenges): the same places, order, mode and timer for whoever opens
the link; the ranking; others' pins only after finishing; forged ids and limits."""

import json
import re
import uuid

import pytest
from django.test import Client

from geogame.challenges.models import Challenge, ChallengeEntry
from geogame.game.models import Game, Round
from tests.test_accounts import play_rounds, start_game

pytestmark = pytest.mark.django_db


def finished_game(client, m, **kwargs):
    game = start_game(client, m, **kwargs)
    play_rounds(client, game)
    return game


def challenge_of(client, game):
    r = client.post(f"/challenges/from/{game.public_id}/")
    assert r.status_code == 302, r.content
    return Challenge.objects.get(public_id=r["Location"].split("/")[2])


def accept(client, challenge, name="Bob"):
    r = client.post(f"/challenges/{challenge.public_id}/play/", {"display_name": name})
    assert r.status_code == 302, r.content
    return Game.objects.get(public_id=r["Location"].split("/")[2])


def test_a_friend_plays_the_same_places_in_order_with_the_same_mode_and_timer(fixture_map):
    ada = Client()
    game = finished_game(ada, fixture_map, time_limit="60")
    challenge = challenge_of(ada, game)
    assert challenge_of(ada, game) == challenge  # the button again: the same challenge
    order = list(Round.objects.filter(game=game).order_by("index").values_list("location_id", flat=True))
    assert challenge.location_order == order and challenge.time_limit_s == 60

    bob = Client()
    page = bob.get(f"/challenges/{challenge.public_id}/").content.decode()
    assert "challenge-accept" in page and "Ada" in page
    theirs = accept(bob, challenge)
    assert accept(bob, challenge) == theirs  # opening it again goes on with the same game
    assert (theirs.mode, theirs.time_limit_s, theirs.rounds_total) == (game.mode, 60, 5)
    play_rounds(bob, theirs, lat=-10.0, lon=-20.0)
    played = list(Round.objects.filter(game=theirs).order_by("index").values_list("location_id", flat=True))
    assert played == order
    assert ChallengeEntry.objects.filter(challenge=challenge).count() == 2


def test_city_mode_challenges_keep_their_mode(fixture_map):
    ada = Client()
    game = start_game(ada, fixture_map, mode="city")
    for _ in range(5):
        s = ada.get(f"/api/games/{game.public_id}/").json()
        body = json.dumps({"city": s["candidates"][0]})
        ada.post(s["round"]["guess_url"], body, content_type="application/json")
        ada.post(s["next_url"])
    challenge = challenge_of(ada, game)
    assert accept(Client(), challenge).mode == "city"


def test_the_page_ranks_everyone_and_shows_pins_only_after_finishing(fixture_map):
    ada = Client()
    game = finished_game(ada, fixture_map, name="Ada")
    challenge = challenge_of(ada, game)
    first = Round.objects.get(game=game, index=0).location
    bob = Client()
    theirs = accept(bob, challenge)
    play_rounds(bob, theirs, rounds=2, lat=first.lat, lon=first.lon)
    page = bob.get(f"/challenges/{challenge.public_id}/").content.decode()
    names = re.findall(r'<td class="ranking-name">([^<]*)', page)
    assert [n.strip() for n in names] == ["Ada", "Bob"]  # both in the ranking (finished first)
    assert "pins-hidden" in page and "pins-data" not in page
    assert str(first.lat) not in page and first.city not in page  # nothing of the answers yet
    play_rounds(bob, theirs)
    page = bob.get(f"/challenges/{challenge.public_id}/").content.decode()
    found = re.search(r'id="pins-data" type="application/json">(.*?)</script>', page, re.S)
    pins = json.loads(found.group(1))
    assert len(pins) == 5 and pins[0]["answer"]["lat"] == first.lat
    assert {p["lat"] for p in pins[0]["pins"]} == {10.0, first.lat}
    # A visitor who has not played sees the ranking, never the pins.
    assert "pins-data" not in Client().get(f"/challenges/{challenge.public_id}/").content.decode()


@pytest.mark.parametrize("forged", [str(uuid.uuid4()), "not-a-uuid", "1' OR '1'='1"])
def test_a_forged_challenge_id_is_a_clear_404_and_makes_nothing(fixture_map, forged):
    client = Client()
    r = client.get(f"/challenges/{forged}/")
    assert r.status_code == 404 and "no such challenge" in r.content.decode()
    r = client.post(f"/challenges/{forged}/play/")
    assert r.status_code == 404 and not Game.objects.exists()


def test_only_your_own_finished_game_makes_a_challenge(fixture_map):
    ada = Client()
    game = start_game(ada, fixture_map)
    play_rounds(ada, game, rounds=2)
    r = ada.post(f"/challenges/from/{game.public_id}/")
    assert r.status_code == 409 and "finish the game first" in r.content.decode()
    play_rounds(ada, game)
    r = Client().post(f"/challenges/from/{game.public_id}/")
    assert r.status_code == 404 and not Challenge.objects.exists()
    assert ada.get(f"/challenges/from/{game.public_id}/").status_code == 405


def test_challenge_creation_is_rate_limited(fixture_map, settings):
    limits = {**settings.GEOGAME_RATE_LIMITS, "challenge": (1, 600), "challenge_session": (5, 600)}
    settings.GEOGAME_RATE_LIMITS = limits
    ada = Client()
    one, two = finished_game(ada, fixture_map), finished_game(ada, fixture_map)
    challenge_of(ada, one)
    r = ada.post(f"/challenges/from/{two.public_id}/")
    assert r.status_code == 429 and r["Retry-After"] and Challenge.objects.count() == 1
    assert ada.post(f"/challenges/from/{one.public_id}/").status_code == 302  # the existing one
