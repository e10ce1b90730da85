"""The game over HTTP: the JSON API and pages, with bad input on every path."""

import json
import math
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from geogame.common.geo import haversine_km
from geogame.game import services
from geogame.game.models import Game, Guess, Round

pytestmark = pytest.mark.django_db


def start_game(client, m, mode="coordinates", time_limit=""):
    r = client.post("/", {"display_name": "Ada", "map": m.slug, "mode": mode, "time_limit": time_limit})
    assert r.status_code == 302, r.content
    return Game.objects.get(public_id=r["Location"].split("/")[2])


def state(client, game):
    r = client.get(f"/api/games/{game.public_id}/")
    assert r.status_code == 200
    return r.json()


def post_json(client, url, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def rewind(rnd, seconds):
    """Time travel: move a round's clock into the past."""
    Round.objects.filter(id=rnd.id).update(
        started_at=rnd.started_at - timedelta(seconds=seconds),
        deadline=rnd.deadline - timedelta(seconds=seconds) if rnd.deadline else None,
    )


@pytest.fixture
def client():
    return Client()


def test_a_full_game_scores_every_round_by_haversine(client, fixture_map):
    game = start_game(client, fixture_map)
    total = 0
    for i in range(5):
        s = state(client, game)
        assert s["round"]["number"] == i + 1 and s["result"] is None
        r = post_json(client, s["round"]["guess_url"], {"lat": 10.0, "lon": 20.0, "views_seen": [0]})
        assert r.status_code == 201
        res = r.json()["result"]
        loc = Round.objects.get(game=game, index=i).location
        d = haversine_km(loc.lat, loc.lon, 10.0, 20.0)
        assert res["distance_km"] == pytest.approx(d)
        assert res["points"] == round(5000 * math.exp(-10 * d / 14916.862))
        assert res["answer"] == {"lat": loc.lat, "lon": loc.lon, "city": loc.city, "country": loc.country}
        total += res["points"]
        nxt = client.post(s["next_url"]).json()
        if i < 4:
            assert nxt["round"]["number"] == i + 2
    final = state(client, game)
    assert final["finished"] and final["total_points"] == total
    assert len({r.location_id for r in game.rounds.all()}) == 5
    page = client.get(final["summary_url"])
    assert page.status_code == 200 and str(total) in page.content.decode()


def test_a_second_submit_returns_the_first_result(client, fixture_map):
    game = start_game(client, fixture_map)
    url = state(client, game)["round"]["guess_url"]
    first = post_json(client, url, {"lat": 1.0, "lon": 2.0})
    second = post_json(client, url, {"lat": -30.0, "lon": 100.0})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["result"] == first.json()["result"]
    assert Guess.objects.count() == 1


def test_next_does_not_skip_an_unguessed_round(client, fixture_map):
    game = start_game(client, fixture_map)
    s = state(client, game)
    again = client.post(s["next_url"]).json()
    assert again["round"]["number"] == 1 and game.rounds.count() == 1


@pytest.mark.parametrize(
    "body,status,message",
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "must be a JSON object"),
        ({"lat": 10}, 400, services.ERR_NEED_COORDS),
        ({"lat": "10", "lon": "20"}, 400, "must be numbers"),
        ({"lat": True, "lon": 20}, 400, services.ERR_NEED_COORDS),
        ('{"lat": NaN, "lon": 1}', 400, "finite"),
        ('{"lat": Infinity, "lon": 1}', 400, "finite"),
        ({"lat": 91, "lon": 0}, 400, "latitude 91 is outside"),
        ({"lat": 0, "lon": -181}, 400, "longitude -181 is outside"),
        ({"lat": 0, "lon": 0, "views_seen": [7]}, 400, services.ERR_BAD_VIEWS),
        ({"lat": 0, "lon": 0, "views_seen": "all"}, 400, services.ERR_BAD_VIEWS),
        ("x" * 20000, 400, "larger than"),
    ],
)
def test_bad_guesses_get_a_clear_error_and_change_nothing(client, fixture_map, body, status, message):
    game = start_game(client, fixture_map)
    url = state(client, game)["round"]["guess_url"]
    r = post_json(client, url, body)
    assert r.status_code == status
    assert message in r.json()["error"]
    assert Guess.objects.count() == 0
    ok = post_json(client, url, {"lat": 0, "lon": 0})
    assert ok.status_code == 201


def test_a_guess_after_the_deadline_is_refused_and_scores_zero(client, fixture_map):
    game = start_game(client, fixture_map, time_limit="30")
    s = state(client, game)
    assert s["round"]["deadline"] is not None
    rewind(game.rounds.get(), 33)  # 30 s limit + 2 s grace, and a bit
    r = post_json(client, s["round"]["guess_url"], {"lat": 0, "lon": 0})
    assert r.status_code == 409
    assert r.json()["error"] == services.ERR_DEADLINE
    assert r.json()["result"]["timed_out"] and r.json()["result"]["points"] == 0
    assert Guess.objects.get().timed_out
    assert post_json(client, s["round"]["guess_url"], {"lat": 0, "lon": 0}).status_code == 200


def test_a_guess_inside_the_grace_period_counts(client, fixture_map):
    game = start_game(client, fixture_map, time_limit="30")
    s = state(client, game)
    # The deadline passed a quarter of the grace ago, counted from now: a slow state request (a busy
    # machine) must not use up the grace before the guess is sent.
    grace = timedelta(seconds=settings.GEOGAME_DEADLINE_GRACE_S)
    Round.objects.filter(game=game).update(deadline=timezone.now() - grace / 4)
    assert post_json(client, s["round"]["guess_url"], {"lat": 0, "lon": 0}).status_code == 201


def test_polling_after_the_deadline_records_the_timeout(client, fixture_map):
    game = start_game(client, fixture_map, time_limit="30")
    state(client, game)
    rewind(game.rounds.get(), 60)
    s = state(client, game)
    assert s["result"]["timed_out"] and s["rounds_played"] == 1


def test_another_players_game_round_and_images_are_invisible(client, fixture_map):
    game = start_game(client, fixture_map)
    s = state(client, game)
    other = Client()
    other.post("/", {"display_name": "Eve", "map": fixture_map.slug, "mode": "coordinates"})
    assert other.get(f"/api/games/{game.public_id}/").status_code == 404
    assert post_json(other, s["round"]["guess_url"], {"lat": 0, "lon": 0}).status_code == 404
    assert other.get(s["round"]["views"][0]["url"]).status_code == 404
    assert other.get(f"/play/{game.public_id}/").status_code == 404
    assert Client().get(f"/api/games/{game.public_id}/").status_code == 404
    assert Guess.objects.count() == 0


def test_guessing_an_unknown_round_is_a_404(client, fixture_map):
    game = start_game(client, fixture_map)
    state(client, game)
    r = post_json(client, f"/api/games/{game.public_id}/rounds/3/guess/", {"lat": 0, "lon": 0})
    assert r.status_code == 404 and r.json()["error"] == services.ERR_NO_SUCH_ROUND
    assert client.get(f"/api/games/{game.public_id}/rounds/0/guess/").status_code == 405


def test_city_mode_offers_the_cities_and_scores_right_or_wrong(client, fixture_map):
    game = start_game(client, fixture_map, mode="city")
    s = state(client, game)
    assert set(s["candidates"]) == {
        "Stuttgart, Germany",
        "Orleans, France",
        "Aurora, Canada",
        "Singapore, Singapore",
        "Hameln, Germany",
    }
    loc = game.rounds.get().location
    right = f"{loc.city}, {loc.country}"
    r = post_json(client, s["round"]["guess_url"], {"city": right})
    assert r.status_code == 201
    assert r.json()["result"]["correct"] is True and r.json()["result"]["points"] == 5000
    s = client.post(s["next_url"]).json()
    loc = game.rounds.get(index=1).location
    wrong = next(c for c in s["candidates"] if c != f"{loc.city}, {loc.country}")
    res = post_json(client, s["round"]["guess_url"], {"city": wrong}).json()["result"]
    assert res["correct"] is False and res["points"] == 0 and res["distance_km"] > 0


def test_city_mode_rejects_unknown_or_missing_cities(client, fixture_map):
    game = start_game(client, fixture_map, mode="city")
    url = state(client, game)["round"]["guess_url"]
    assert post_json(client, url, {"city": "Atlantis, Nowhere"}).json()["error"] == services.ERR_UNKNOWN_CITY
    assert post_json(client, url, {"lat": 1, "lon": 2}).json()["error"] == services.ERR_NEED_CITY
    assert Guess.objects.count() == 0


@pytest.mark.parametrize(
    "form,message",
    [
        ({"map": "no-such-map", "mode": "coordinates"}, "choose one of the maps"),
        ({"mode": "telepathy"}, "choose a game mode"),
        ({"time_limit": "soon"}, "time limit must be"),
        ({"time_limit": "5"}, "time limit must be"),
        ({"display_name": "x" * 41}, "longer than 40"),
    ],
)
def test_the_home_form_rejects_bad_input_and_keeps_the_form(client, fixture_map, form, message):
    data = {"display_name": "Ada", "map": fixture_map.slug, "mode": "coordinates", "time_limit": "", **form}
    r = client.post("/", data)
    assert r.status_code == 400
    assert message in r.content.decode()
    assert Game.objects.count() == 0


def test_a_map_too_small_for_a_game_is_refused(client, tmp_path):
    from geogame.maps.importer import import_map
    from harness.fixture_map import build_fixture_folder

    folder = tmp_path / "tiny"
    folder.mkdir()
    build_fixture_folder(folder, per_city=0)
    m = import_map(folder, name="Tiny").map
    r = client.post("/", {"display_name": "Ada", "map": m.slug, "mode": "coordinates"})
    assert r.status_code == 400 and "has 1 playable locations; a game needs 5" in r.content.decode()


def test_images_are_served_with_cache_headers_and_etags(client, fixture_map):
    game = start_game(client, fixture_map)
    view = state(client, game)["round"]["views"][0]
    r = client.get(view["url"])
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert "max-age" in r["Cache-Control"] and "private" in r["Cache-Control"]
    assert client.get(view["url"], headers={"If-None-Match": r["ETag"]}).status_code == 304
    assert client.get(view["thumb"]).status_code == 200
    assert client.get(view["url"].replace("/0.jpg", "/5.jpg")).status_code == 404


def test_static_files_are_cached_a_minute_and_then_revalidated(client):
    """Static URLs carry no content hash (whitenoise serves them from the finders, no collectstatic), so
    a browser keeps a file a minute, then asks again with its ETag and gets a 304 while it is unchanged."""
    r = client.get("/static/geogame/style.css")
    assert r.status_code == 200 and r["Cache-Control"] == "max-age=60, public"
    again = client.get("/static/geogame/style.css", headers={"If-None-Match": r["ETag"]})
    assert again.status_code == 304 and not b"".join(again.streaming_content)


@pytest.mark.django_db
def test_livez_answers_without_asking_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        r = client.get("/livez")
    assert (r.status_code, r.content, r["Cache-Control"]) == (200, b"ok\n", "no-store")
    assert client.post("/livez").status_code == 405
