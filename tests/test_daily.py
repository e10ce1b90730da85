"""The daily challenge (geogame/challenges): five places per map and UTC day, seeded by both,
from places no machine learned from and held back from every other game that day; one attempt
per account or browser, also under concurrent requests; the leaderboard after your attempt, with
the map's machine players on it; the archive."""

import datetime
import re
import threading

import pytest
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from geogame.challenges import rules, services
from geogame.challenges.models import DailyAttempt, DailyChallenge
from geogame.common import background
from geogame.duels import services as duel_services
from geogame.game import location_pools
from geogame.game import services as game_services
from geogame.game.models import Game, Guess
from geogame.maps.models import Location
from geogame.studies import services as study_services
from tests.test_accounts import play_rounds, signup, start_game
from tests.test_challenges import accept, challenge_of, finished_game

pytestmark = pytest.mark.django_db


def play_daily(client, m, name=None):
    data = {"display_name": name} if name else {}
    r = client.post(f"/daily/{m.slug}/play/", data)
    assert r.status_code == 302, r.content
    return Game.objects.get(public_id=r["Location"].split("/")[2])


def today():
    return timezone.now().date()


def test_the_daily_is_drawn_by_map_and_date_as_a_plain_function():
    pool = list(range(100, 140))
    day = datetime.date(2026, 12, 3)
    first = rules.daily_locations(pool, "world", day)
    assert len(first) == 5 == len(set(first)) and set(first) <= set(pool)
    assert rules.daily_locations(list(reversed(pool)), "world", day) == first  # same map, same day
    assert rules.daily_locations(pool, "world", day + datetime.timedelta(days=1)) != first
    assert rules.daily_locations(pool, "europe", day) != first
    with pytest.raises(ValueError):
        rules.daily_locations(pool[:4], "world", day)


def test_everyone_gets_the_same_places_never_learned_from_and_held_from_other_games(daily_map):
    ada, bob = Client(), Client()
    a, b = play_daily(ada, daily_map), play_daily(bob, daily_map)
    daily = DailyChallenge.objects.get(map=daily_map, day=today())
    assert a.location_order == b.location_order == daily.location_order and a.rounds_total == 5
    splits = set(Location.objects.filter(id__in=daily.location_order).values_list("split", flat=True))
    assert splits <= set(Location.MACHINE_SPLITS)
    excluded = location_pools.machine_excluded_ids(daily_map, services.daily_machine_names(daily_map))
    assert not excluded & set(daily.location_order)
    # No other game may be served them today: not a solo game, not a machine game, not a duel.
    held = set(daily.location_order)
    assert not held & location_pools.pool_ids(daily_map)
    assert not held & location_pools.pool_ids(daily_map, machine_names=["centroid"])
    assert not held & location_pools.pool_ids(daily_map, for_duel=True)
    # ...while the daily's own attempts play them in order.
    play_rounds(ada, a)
    played = list(a.rounds.order_by("index").values_list("location_id", flat=True))
    assert played == daily.location_order


def test_a_map_gets_a_daily_only_with_three_dailies_worth_of_places_as_a_plain_function():
    assert rules.DAILY_MIN_POOL == 3 * rules.DAILY_ROUNDS
    assert not rules.has_daily(rules.DAILY_MIN_POOL - 1) and not rules.has_daily(0)
    assert rules.has_daily(rules.DAILY_MIN_POOL)


def served_ids(game):
    """Every place `game` planned or showed."""
    return set(game.location_order or ()) | set(game.rounds.values_list("location_id", flat=True))


def test_no_game_duel_challenge_or_study_made_earlier_that_day_shows_a_place_of_the_daily(daily_map):
    """The day's first draw on a map draws its daily first, so places served before anyone opens
    the daily are never among its places."""
    ada = Client()
    # Earlier today, before anyone opens the daily: a study (the day's first draw on the map; it holds
    # its places from the games below, so the challenge can be taken up later)...
    study = study_services.study_create(
        map=daily_map, name="Baseline", consent_text="I agree.", mode=Game.COORDINATES,
        practice_count=1, test_count=4, seed=3,
    )  # fmt: skip
    # ...a classic game, played and made a challenge...
    first = finished_game(ada, daily_map)
    challenge = challenge_of(ada, first)
    games = [first]
    # ...classic games and games against a machine (drawn from the held-out places a daily uses),
    # each showing its first round, and an invited duel.
    for seed in range(8):
        opponent = "centroid" if seed % 2 else ""
        game = game_services.game_create(player=first.player, map=daily_map, seed=seed, opponent=opponent)
        game_services.round_next(game=game)
        games.append(game)
    duel = duel_services.duel_create(player=first.player, map=daily_map, opponent="human")
    # Now the daily is opened and played.
    daily_game = play_daily(Client(), daily_map, name="Dee")
    daily = DailyChallenge.objects.get(map=daily_map, day=today())
    held = set(daily.location_order)
    assert len(held) == rules.DAILY_ROUNDS and daily_game.location_order == daily.location_order
    for game in games:
        assert not served_ids(game) & held, game.seed
    assert not set(duel.game.location_order) & held
    assert not (set(study.practice_ids) | set(study.test_ids)) & held
    assert not set(challenge.location_order) & held
    # The rest of those games, and the challenge taken up after the daily, still show none of them.
    for game in games[1:]:
        play_rounds(ada, game)
    bob = Client()
    bob_game = accept(bob, challenge)
    play_rounds(bob, bob_game)
    for game in [*games, bob_game]:
        assert not served_ids(game) & held


def test_a_map_too_small_for_a_daily_gets_none_and_keeps_every_place(fixture_map):
    held_out = set(
        location_pools.playable(fixture_map)
        .filter(split__in=Location.MACHINE_SPLITS)
        .values_list("id", flat=True)
    )
    assert len(held_out) < rules.DAILY_MIN_POOL  # the suite's fixture map: 10 held-out places
    ada = Client()
    play_rounds(ada, start_game(ada, fixture_map))  # draws on the map: no daily is drawn
    assert not DailyChallenge.objects.exists()
    unseen = held_out - location_pools.machine_excluded_ids(fixture_map, ["centroid"])
    assert location_pools.pool_ids(fixture_map, machine_names=["centroid"]) == unseen
    page = ada.get("/daily/").content.decode()
    item = page.split(f'id="daily-{fixture_map.slug}"')[1].split("</li>")[0]
    assert "No daily challenge on this map" in item and f"at least {rules.DAILY_MIN_POOL}" in item
    assert "daily-play" not in item
    games = Game.objects.count()
    r = ada.post(f"/daily/{fixture_map.slug}/play/")
    assert r.status_code == 409 and f"at least {rules.DAILY_MIN_POOL}" in r.content.decode()
    assert not DailyChallenge.objects.exists() and not DailyAttempt.objects.exists()
    assert Game.objects.count() == games


def test_a_challenge_over_a_place_held_by_todays_daily_waits(fixture_map):
    """On a map too small for a daily of its own (no daily is drawn there), one made by hand."""
    ada = Client()
    game = finished_game(ada, fixture_map)
    challenge = challenge_of(ada, game)
    DailyChallenge.objects.create(map=fixture_map, day=today(), location_order=challenge.location_order)
    r = Client().post(f"/challenges/{challenge.public_id}/play/")
    assert r.status_code == 409 and "held" in r.content.decode()


def test_one_attempt_per_browser_and_per_account(daily_map):
    anon = Client()
    play_daily(anon, daily_map)
    r = anon.post(f"/daily/{daily_map.slug}/play/")
    assert r.status_code == 409 and "already played" in r.content.decode()
    assert DailyAttempt.objects.filter(is_machine=False).count() == 1
    # An account: once, from any browser.
    first = Client()
    signup(first)
    play_daily(first, daily_map)
    second = Client()
    login = second.post("/accounts/login/", {"username": "ada", "password": "correct horse 9"})
    assert login.status_code == 302
    r = second.post(f"/daily/{daily_map.slug}/play/")
    assert r.status_code == 409
    assert DailyAttempt.objects.filter(is_machine=False).count() == 2


def test_an_anonymous_attempt_joins_the_account_made_in_that_browser(daily_map):
    client = Client()
    game = play_daily(client, daily_map)
    signup(client)
    attempt = DailyAttempt.objects.get(game=game)
    assert attempt.player.user.username == "ada"
    assert client.post(f"/daily/{daily_map.slug}/play/").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_two_attempts_at_once_from_one_browser_make_one(daily_map):
    """Concurrency on the server: run on PostgreSQL too (Makefile POSTGRES_TESTS)."""
    client = Client()
    client.get("/daily/")
    client.session.save()
    session = client.session
    session.save()
    client.cookies["sessionid"] = session.session_key
    services.daily_get_or_create(m=daily_map)  # drawn before: the race is on the attempt
    barrier, statuses = threading.Barrier(4), []

    def attempt():
        close_old_connections()
        c = Client()
        c.cookies["sessionid"] = session.session_key
        barrier.wait()
        statuses.append(c.post(f"/daily/{daily_map.slug}/play/").status_code)
        close_old_connections()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [302, 409, 409, 409]
    assert DailyAttempt.objects.filter(is_machine=False).count() == 1
    assert Game.objects.filter(player__kind="human").count() == 1  # the refused ones left nothing
    background.wait_local(timeout=120)  # the machines' daily rounds, before the database is flushed


def test_the_leaderboard_opens_after_your_attempt(daily_map):
    ada = Client()
    url = f"/daily/{daily_map.slug}/{today().isoformat()}/"
    services.daily_get_or_create(m=daily_map)
    r = ada.get(url)
    assert r.status_code == 403 and "play today" in r.content.decode()
    game = play_daily(ada, daily_map, name="Ada")
    play_rounds(ada, game, rounds=3)
    assert ada.get(url).status_code == 403
    play_rounds(ada, game)
    page = ada.get(url)
    assert page.status_code == 200 and "Ada" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_maps_machine_players_play_the_same_daily_and_are_marked(daily_map):
    ada = Client()
    game = play_daily(ada, daily_map, name="Ada")
    play_rounds(ada, game)
    background.wait_local(timeout=120)
    daily = DailyChallenge.objects.get()
    machines = DailyAttempt.objects.filter(daily=daily, is_machine=True).select_related("game", "player")
    assert {a.player.machine_name for a in machines} == {"random", "centroid", "retrieval"}
    for a in machines:
        assert a.game.location_order == daily.location_order
        assert Guess.objects.filter(round__game=a.game, player=a.player).count() == 5
    page = ada.get(f"/daily/{daily_map.slug}/{today().isoformat()}/").content.decode()
    humans, machine_part = page.split('id="daily-machines"')
    assert "Ada" in humans and "machine-badge" not in humans.split('id="daily-humans"')[1]
    assert machine_part.count("machine-badge") == 3
    ranks = re.findall(r'<tr class="ranking-row[^"]*"[^>]*>\s*<td class="num">(\d+)</td>', page)
    human_ranks, machine_ranks = ranks[:1], [int(r) for r in ranks[1:]]
    assert human_ranks == ["1"]  # each table ranks on its own
    assert len(machine_ranks) == 3 and machine_ranks[0] == 1 and machine_ranks == sorted(machine_ranks)
    for a in machines:
        assert a.player.display_name in machine_part


def test_past_dailies_are_in_the_archive_open_to_all_and_closed_to_play(daily_map):
    yesterday = today() - datetime.timedelta(days=1)
    ids = list(Location.objects.filter(map=daily_map, split="test").values_list("id", flat=True)[:5])
    DailyChallenge.objects.create(map=daily_map, day=yesterday, location_order=ids)
    client = Client()
    page = client.get("/daily/archive/").content.decode()
    assert yesterday.isoformat() in page
    assert client.get(f"/daily/{daily_map.slug}/{yesterday.isoformat()}/").status_code == 200
    daily = DailyChallenge.objects.get(day=yesterday)
    with pytest.raises(services.ChallengeError):
        services.daily_attempt_start(daily=daily, player=None, owner="session:x")
    assert client.get(f"/daily/{daily_map.slug}/2019-01-01/").status_code == 404
    assert client.get(f"/daily/{daily_map.slug}/not-a-day/").status_code == 404
    assert client.post("/daily/no-such-map/play/").status_code == 404
    assert client.get("/daily/").status_code == 200


def test_sharing_a_daily_game_leads_to_its_leaderboard_not_a_challenge(daily_map):
    ada = Client()
    game = play_daily(ada, daily_map)
    play_rounds(ada, game)
    r = ada.post(f"/challenges/from/{game.public_id}/")
    assert r.status_code == 302 and r["Location"] == f"/daily/{daily_map.slug}/{today().isoformat()}/"
    assert accept  # the challenge helpers are shared with test_challenges


def test_logging_in_brings_the_browsers_daily_attempt_unless_the_account_has_one(daily_map):
    account = Client()
    signup(account)
    other_map_attempt = Client()
    game = play_daily(other_map_attempt, daily_map)
    # The account has not played today's daily: the browser's attempt becomes the account's.
    login = other_map_attempt.post("/accounts/login/", {"username": "ada", "password": "correct horse 9"})
    assert login.status_code == 302
    attempt = DailyAttempt.objects.get(game=game)
    assert attempt.player.user.username == "ada" and attempt.owner.startswith("user:")
    assert account.post(f"/daily/{daily_map.slug}/play/").status_code == 409  # one per account
    # A browser that played too, logging in to the account that has: its attempt leaves the ranking.
    third = Client()
    extra = play_daily(third, daily_map)
    third.post("/accounts/login/", {"username": "ada", "password": "correct horse 9"})
    assert not DailyAttempt.objects.filter(game=extra).exists()
    assert Game.objects.filter(id=extra.id, player__user__username="ada").exists()  # still in the history
    assert DailyAttempt.objects.filter(is_machine=False).count() == 1
