"""Country streaks (geogame.streaks): the mode over HTTP, its bad input, anti-cheat, machine
streaks and the streak leaderboard."""

import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from geogame.game import machines
from geogame.maps.countries import country_name
from geogame.maps.models import Location
from geogame.streaks import rules
from geogame.streaks.models import Streak, StreakRound

from .test_anticheat import assert_image_is_clean, assert_reveals_nothing

pytestmark = pytest.mark.django_db

# A point in each fixture country (harness.fixture_map), and a wrong country for each.
POINT_IN = {"DE": (51.0, 10.0), "FR": (46.5, 2.5), "CA": (56.0, -100.0), "SG": (1.35, 103.82)}
WRONG = {"DE": "FR", "FR": "DE", "CA": "US", "SG": "MY"}


def start(client, m, name="Ada"):
    r = client.post("/streaks/", {"display_name": name, "map": m.slug})
    assert r.status_code == 302, r.content
    return Streak.objects.get(public_id=r["Location"].split("/")[2])


def state(client, streak):
    r = client.get(f"/api/streaks/{streak.public_id}/")
    assert r.status_code == 200
    return r.json()


def post(client, url, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def current_location(streak, index):
    return StreakRound.objects.select_related("location").get(streak=streak, index=index).location


def strings_in(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)
    elif isinstance(value, str):
        yield value


def test_the_fixture_map_has_its_countries_stored(fixture_map):
    codes = set(fixture_map.locations.values_list("country_code", flat=True))
    assert codes == {"DE", "FR", "CA", "SG"}


def test_a_streak_goes_on_while_right_and_ends_at_the_first_wrong_answer(fixture_map):
    client = Client()
    streak = start(client, fixture_map)
    assert streak.max_length == min(rules.MAX_STREAK, fixture_map.locations.count())
    s = state(client, streak)
    assert s["status"] == "active" and s["length"] == 0 and s["last"] is None
    loc = current_location(streak, 0)
    # Right, by code (lower case is fine).
    r = post(client, s["round"]["guess_url"], {"country": loc.country_code.lower()})
    assert r.status_code == 201
    out = r.json()
    assert out["length"] == 1 and out["status"] == "active" and out["round"] is None
    assert out["last"]["correct"] is True
    assert out["last"]["answer"] == {"code": loc.country_code, "name": country_name(loc.country_code)}
    assert (out["last"]["lat"], out["last"]["lon"]) == (loc.lat, loc.lon)  # revealed only now
    # Right, by a click: a point in the country.
    s = state(client, streak)
    assert s["round"]["number"] == 2
    loc = current_location(streak, 1)
    lat, lon = POINT_IN[loc.country_code]
    out = post(client, s["round"]["guess_url"], {"lat": lat, "lon": lon}).json()
    assert out["length"] == 2 and out["last"]["guess"]["code"] == loc.country_code
    # Wrong: the streak ends, and says what it was.
    s = state(client, streak)
    loc = current_location(streak, 2)
    wrong = WRONG[loc.country_code]
    out = post(client, s["round"]["guess_url"], {"country": wrong}).json()
    assert out["status"] == "ended" and out["end_reason"] == "wrong" and out["length"] == 2
    assert out["last"]["correct"] is False and out["last"]["answer"]["code"] == loc.country_code
    assert out["last"]["guess"]["code"] == wrong
    # Over: no new round, and the same round cannot be answered again.
    after = state(client, streak)
    assert after["round"] is None and after["status"] == "ended"
    r = post(client, s["round"]["guess_url"], {"country": loc.country_code})
    assert r.status_code == 409 and r.json()["error"] == rules.ERR_ANSWERED
    later = s["round"]["guess_url"].replace("/rounds/2/", "/rounds/3/")
    assert post(client, later, {"country": "FR"}).status_code == 404
    assert StreakRound.objects.filter(streak=streak).count() == 3


def test_a_streak_ends_complete_at_its_maximum_length(fixture_map):
    client = Client()
    streak = start(client, fixture_map)
    Streak.objects.filter(id=streak.id).update(max_length=2)
    for index in range(2):
        s = state(client, streak)
        code = current_location(streak, index).country_code
        out = post(client, s["round"]["guess_url"], {"country": code}).json()
    assert out["status"] == "ended" and out["end_reason"] == "complete" and out["length"] == 2
    assert state(client, streak)["round"] is None


def test_a_round_past_its_deadline_ends_the_streak_as_a_timeout(fixture_map):
    client = Client()
    streak = start(client, fixture_map)
    s = state(client, streak)
    code = current_location(streak, 0).country_code
    StreakRound.objects.filter(streak=streak).update(deadline=timezone.now() - timedelta(seconds=1))
    r = post(client, s["round"]["guess_url"], {"country": code})
    assert r.status_code == 409 and "time ran out" in r.json()["error"]
    streak.refresh_from_db()
    assert streak.status == Streak.ENDED and streak.end_reason == Streak.TIMEOUT and streak.length == 0
    last = state(client, streak)["last"]
    assert last["timed_out"] is True and last["answer"]["code"] == code


def test_nothing_before_the_answer_reveals_the_country(fixture_map):
    client = Client()
    home = client.get("/streaks/").content.decode()
    streak = start(client, fixture_map)
    page = client.get(f"/streaks/{streak.public_id}/").content.decode()
    # The page lists every country by design (the autocomplete); nothing else of the place.
    page_without_names = re.sub(r'<script id="country-names".*?</script>', "", page, flags=re.S)
    for number in range(1, 4):
        s = state(client, streak)
        loc = current_location(streak, number - 1)
        assert set(s["round"]) == {"index", "number", "views", "deadline", "guess_url"}
        text = json.dumps(s["round"])
        for what, received in (("home", home), ("page", page_without_names), ("round", text)):
            assert_reveals_nothing(received, loc, f"round {number} {what}")
        secrets = {loc.country_code, country_name(loc.country_code), loc.country}
        assert not secrets & set(strings_in(s["round"])), secrets
        for view in s["round"]["views"]:
            for kind in ("url", "thumb"):
                assert re.fullmatch(r"/streak-img/[A-Za-z0-9_-]{43}/\d(/thumb)?\.jpg", view[kind])
                r = client.get(view[kind])
                assert r.status_code == 200
                assert_image_is_clean(r.getvalue(), loc, f"round {number} {kind}")
                assert Client().get(view[kind]).status_code == 404  # only to the streak's player
        out = post(client, s["round"]["guess_url"], {"country": loc.country_code}).json()
        assert out["last"]["answer"]["code"] == loc.country_code


@pytest.mark.parametrize(
    "body, message",
    [
        ({"country": "ZZ"}, rules.ERR_UNKNOWN_CODE),
        ({"country": "France"}, rules.ERR_UNKNOWN_CODE),
        ({"country": 250}, rules.ERR_UNKNOWN_CODE),
        ({"lat": 95, "lon": 0}, rules.ERR_BAD_POINT),
        ({"lat": "NaN", "lon": 0}, rules.ERR_BAD_POINT),
        ({"lat": True, "lon": 0}, rules.ERR_BAD_POINT),
        ({"lat": 10}, rules.ERR_BAD_POINT),
        ({"lat": 30.0, "lon": -40.0}, rules.ERR_NO_COUNTRY_THERE),
        ({"country": "FR", "lat": 46.5, "lon": 2.5}, rules.ERR_BOTH),
        ({}, rules.ERR_NEED_ANSWER),
        ("[1, 2]", "JSON object"),
        ("{not json", "request body"),
    ],
)
def test_bad_answers_get_a_clear_400_and_leave_the_round_open(fixture_map, body, message):
    client = Client()
    streak = start(client, fixture_map)
    s = state(client, streak)
    r = post(client, s["round"]["guess_url"], body)
    assert r.status_code == 400 and message in r.json()["error"]
    assert StreakRound.objects.get(streak=streak, index=0).correct is None
    assert state(client, streak)["round"]["index"] == 0


def test_other_refusals(fixture_map):
    client = Client()
    streak = start(client, fixture_map)
    s = state(client, streak)
    url = s["round"]["guess_url"]
    assert client.get(url).status_code == 405
    assert post(client, url.replace("/rounds/0/", "/rounds/7/"), {"country": "FR"}).status_code == 404
    stranger = Client()
    assert post(stranger, url, {"country": "FR"}).status_code == 404
    assert stranger.get(f"/api/streaks/{streak.public_id}/").status_code == 404
    assert stranger.get(f"/streaks/{streak.public_id}/").status_code == 404
    r = client.post("/streaks/", {"display_name": "Ada", "map": "no-such-map"})
    assert r.status_code == 400 and b"choose one of the maps" in r.content


def test_a_map_with_too_few_places_with_a_country_has_no_streak(fixture_map):
    keep = list(fixture_map.locations.values_list("id", flat=True)[:2])
    Location.objects.filter(map=fixture_map).exclude(id__in=keep).update(country_code="")
    r = Client().post("/streaks/", {"display_name": "Ada", "map": fixture_map.slug})
    assert r.status_code == 400 and b"a streak needs 3" in r.content


def test_machines_play_streaks_by_the_country_of_their_pin_and_rank_apart(fixture_map, capsys):
    client = Client()
    streak = start(client, fixture_map, name="Ada")
    s = state(client, streak)
    post(client, s["round"]["guess_url"], {"country": current_location(streak, 0).country_code})
    s = state(client, streak)
    post(client, s["round"]["guess_url"], {"country": WRONG[current_location(streak, 1).country_code]})

    call_command("play_streaks", fixture_map.slug, "--players", "centroid,random", "--streaks", "2")
    out = capsys.readouterr().out
    assert out.count("centroid: streak of") == 2 and out.count("random: streak of") == 2
    played = Streak.objects.filter(is_machine=True).select_related("player")
    assert played.count() == 4
    for ms in played:
        assert ms.status == Streak.ENDED and ms.player.kind == "machine"
        seen = machines.excluded_location_ids(ms.player.machine_name, fixture_map)
        rounds = list(ms.rounds.select_related("location"))
        assert rounds and ms.length == sum(1 for r in rounds if r.correct)
        for r in rounds:
            assert r.location_id not in seen and r.location.split in Location.MACHINE_SPLITS
            assert r.correct == (r.guess_code == r.location.country_code)
        # Every round but the last was right; the last ended it (wrong, or the places ran out).
        assert all(r.correct for r in rounds[:-1])
        assert ms.end_reason == (Streak.WRONG if not rounds[-1].correct else Streak.COMPLETE)
    # The centroid player's pin is one point (its training places' centre): one answer, every round.
    for centroid in played.filter(player__machine_name="centroid"):
        assert len({r.guess_code for r in centroid.rounds.all()}) == 1

    board = client.get(f"/streaks/board/{fixture_map.slug}/").content.decode()
    humans = board.split('id="streak-board-humans"')[1].split("</table>")[0]
    machine_table = board.split('id="streak-board-machines"')[1].split("</table>")[0]
    assert "Ada" in humans and "machine" not in humans and ">1<" in humans
    best = {}
    for ms in played:
        best[ms.player.display_name] = max(best.get(ms.player.display_name, 0), ms.length)
    for name, length in best.items():
        if length:
            assert name in machine_table and "machine-badge" in machine_table
        assert name not in humans


def test_play_streaks_refuses_bad_arguments_in_one_line(fixture_map):
    for args, message in (
        (["no-map"], "unknown map"),
        ([fixture_map.slug, "--streaks", "0"], "--streaks must be"),
        ([fixture_map.slug, "--players", "nobody"], "nobody"),
    ):
        with pytest.raises(CommandError) as refused:
            call_command("play_streaks", *args)
        assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not Streak.objects.exists()


def test_the_board_page_and_an_unknown_map(fixture_map):
    client = Client()
    assert client.get("/streaks/board/").status_code == 200
    assert client.get("/streaks/board/nope/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_answers_to_one_round_at_once_count_once(fixture_map):
    """Two requests answer the same round at once (a double click, two tabs): one counts, the other
    is refused with 409, and the streak grows by one (PostgreSQL: the streak row is locked)."""
    import threading

    from django.db import connection

    from geogame.streaks import services
    from players.models import Player

    player = Player.objects.create(display_name="Ada")
    streak = services.streak_create(player=player, m=fixture_map)
    rnd = services.round_current(streak=streak)
    code = rnd.location.country_code
    start, outcomes = threading.Barrier(2), []

    def answer():
        try:
            start.wait(timeout=10)
            services.guess_submit(streak=streak, index=0, code=code)
            outcomes.append(201)
        except services.StreakError as exc:
            outcomes.append(exc.status)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=answer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes, key=str) == [201, 409]
    streak.refresh_from_db()
    assert streak.length == 1 and streak.status == Streak.ACTIVE
