"""Ratings (geogame/ranked), ranked duels and machine calibration, in-process with the clock moved by
hand (`now=`); duel events and timers are recorded instead of sent. The concurrent finishes run in
threads with their own database connections: on PostgreSQL in `make test` (POSTGRES_TESTS)."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from geogame.duels import events as duel_events
from geogame.duels import rules as duel_rules
from geogame.duels import services as duels
from geogame.duels.models import Duel
from geogame.game import machines
from geogame.game.models import Game, Guess, Round
from geogame.leaderboards.models import GameResult
from geogame.ranked import glicko2
from geogame.ranked import services as ranked
from geogame.ranked.models import Rating, RatingEvent
from inference.models import TrainedModel
from inference.services import machine_player_get
from players.models import Player

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outbox(monkeypatch, settings):
    sent = {"events": [], "timers": [], "tasks": []}
    monkeypatch.setattr(duel_events, "_group_send", lambda group, message: sent["events"].append(message))
    monkeypatch.setattr(duel_events, "_schedule", lambda *timer: sent["timers"].append(timer))
    monkeypatch.setattr(duels.background, "enqueue", lambda task, *args: sent["tasks"].append((task, args)))
    settings.GEOGAME_DUEL_ROUND_S = 60
    settings.GEOGAME_DEADLINE_GRACE_S = 2.0
    settings.GEOGAME_MACHINE_MIN_HUMAN_S = 0.0
    return sent


def account_player(name):
    user = User.objects.create_user(name.lower(), password=f"pw-{name}-123456")
    return Player.objects.create(display_name=name, user=user)


@pytest.fixture
def ada(db):
    return account_player("Ada")


@pytest.fixture
def bo(db):
    return account_player("Bo")


def ranked_duel(fixture_map, ada, bo, t0):
    """A ranked duel of Ada against Bo, round 1 started at t0 + the start delay."""
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN, ranked=True, now=t0)
    duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=bo, now=t0)
    duel.refresh_from_db()
    duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    duel.refresh_from_db()
    return duel, Round.objects.get(game=duel.game, index=duel.round_index)


def rating(player, m, artefact=""):
    return Rating.objects.get(player=player, map=m, artefact=artefact)


# -- match_rate ----------------------------------------------------------------------------------


def test_a_game_is_rated_once_and_both_sides_move(fixture_map, ada, bo):
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=1)
    sides = [ranked.Side(ada), ranked.Side(bo)]
    event = ranked.match_rate(game=game, sides=sides, score=glicko2.WIN)
    a, b = rating(ada, fixture_map), rating(bo, fixture_map)
    expected = glicko2.rate(glicko2.Rating(), [glicko2.Result(glicko2.Rating(), 1.0)])
    assert a.rating == pytest.approx(expected.rating) and a.deviation == pytest.approx(expected.deviation)
    assert b.rating == pytest.approx(3000 - expected.rating) and (a.games, b.games) == (1, 1)
    assert event.kind == RatingEvent.DUEL and [s["score"] for s in event.sides] == [1.0, 0.0]
    assert event.sides[0]["before"] == [1500.0, 350.0]
    # The same game again (a second worker, a redelivered task): nothing changes.
    assert ranked.match_rate(game=game, sides=sides, score=glicko2.LOSS) is None
    assert rating(ada, fixture_map).rating == a.rating and rating(ada, fixture_map).games == 1
    assert RatingEvent.objects.count() == 1


def test_idle_periods_widen_the_deviation_before_the_next_game(fixture_map, ada, bo, settings):
    settings.GEOGAME_RANKED_PERIOD_S = 3600.0
    t0 = timezone.now()
    for i, when in enumerate((t0, t0 + timedelta(minutes=1))):
        game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=i)
        ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(bo)], score=0.5, now=when)
    row = rating(ada, fixture_map)
    soon, later = ranked.current(row, t0 + timedelta(minutes=2)), ranked.current(row, t0 + timedelta(days=30))
    assert soon.deviation == pytest.approx(row.deviation, abs=0.5)
    assert later.deviation > soon.deviation + 20 and later.rating == row.rating
    event = ranked.match_rate(
        game=Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=9),
        sides=[ranked.Side(ada), ranked.Side(bo)],
        score=1.0,
        now=t0 + timedelta(days=30),
    )
    assert event.sides[0]["before"][1] == pytest.approx(later.deviation, abs=0.01)


def test_bad_ratings_are_refused(fixture_map, ada):
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=1)
    with pytest.raises(ranked.RankedError, match="score"):
        ranked.match_rate(
            game=game, sides=[ranked.Side(ada), ranked.Side(machine_player_get("random"))], score=2
        )
    with pytest.raises(ranked.RankedError, match="two different sides"):
        ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(ada)], score=1.0)
    assert not RatingEvent.objects.exists()


def test_a_retrained_artefact_starts_with_its_own_rating(fixture_map, ada):
    TrainedModel.objects.create(map=fixture_map, player_name="ensemble", version=1, status=TrainedModel.READY)
    assert machines.artefact("ensemble", fixture_map) == "v1"
    assert machines.artefact("centroid", fixture_map) == ""  # nothing to train
    machine = machine_player_get("ensemble")
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=1)
    ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(machine, "v1")], score=0.0)
    TrainedModel.objects.create(map=fixture_map, player_name="ensemble", version=2, status=TrainedModel.READY)
    assert machines.artefact("ensemble", fixture_map) == "v2"
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=2)
    event = ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(machine, "v2")], score=0.0)
    assert event.sides[1]["before"] == [1500.0, 350.0]  # v2 starts afresh
    assert rating(machine, fixture_map, "v1").rating > 1500 and rating(machine, fixture_map, "v1").games == 1
    assert rating(machine, fixture_map, "v2").games == 1


# -- Ranked duels --------------------------------------------------------------------------------


def test_ranked_duels_are_for_accounts_and_two_sides(fixture_map, ada):
    anonymous = Player.objects.create(display_name="Anon")
    with pytest.raises(duels.DuelError, match="log in") as refused:
        duels.duel_create(player=anonymous, map=fixture_map, opponent="centroid", ranked=True)
    assert refused.value.status == 403
    with pytest.raises(duels.DuelError, match="two sides only"):
        duels.duel_create(
            player=ada, map=fixture_map, opponent=duels.HUMAN, third_seat="centroid", ranked=True
        )
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN, ranked=True)
    with pytest.raises(duels.DuelError, match="log in"):
        duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=anonymous)
    assert duel.seats.filter(player=anonymous).count() == 0


def test_a_machine_seat_records_the_artefact_that_plays(fixture_map, ada):
    # A trained model's row alone (no files): its version is what the seat records.
    TrainedModel.objects.create(map=fixture_map, player_name="ensemble", version=3, status=TrainedModel.READY)
    duel = duels.duel_create(player=ada, map=fixture_map, opponent="ensemble", ranked=True)
    assert duel.ranked and duel.seats.get(seat=1).artefact == "v3"
    unranked = duels.duel_create(player=ada, map=fixture_map, opponent="centroid")
    assert unranked.seats.get(seat=1).artefact == ""


def test_a_side_that_misses_the_deadline_forfeits_and_the_duel_is_rated_once(
    fixture_map, ada, bo, outbox, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel, rnd = ranked_duel(fixture_map, ada, bo, t0)
        duels.duel_guess(duel_id=duel.id, player_id=ada.id, round_index=0, lat=48, lon=9, now=rnd.started_at)
    assert not RatingEvent.objects.exists()  # playing: nothing rated
    rnd.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):  # Bo is gone: no guess by the deadline
        duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=3))
    duel.refresh_from_db()
    assert (duel.status, duel.winner_seat, duel.end_reason) == (Duel.FINISHED, 0, duel_rules.FORFEIT)
    assert outbox["events"][-1]["type"] == "duel_over"
    assert len(duel.results) == 1 and duel.health[1] > 0  # not knocked out: the forfeit ended it
    event = RatingEvent.objects.get()
    assert event.game_id == duel.game_id and event.kind == RatingEvent.DUEL
    assert rating(ada, fixture_map).rating > 1500 > rating(bo, fixture_map).rating
    duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=60))  # nothing more
    assert RatingEvent.objects.count() == 1 and rating(ada, fixture_map).games == 1


def test_both_sides_missing_the_deadline_is_a_rated_draw(
    fixture_map, ada, bo, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    duel, rnd = ranked_duel(fixture_map, ada, bo, t0)
    duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=3))
    duel.refresh_from_db()
    assert (duel.status, duel.winner_seat, duel.end_reason) == (Duel.FINISHED, None, duel_rules.FORFEIT)
    assert rating(ada, fixture_map).rating == pytest.approx(1500)
    assert rating(ada, fixture_map).games == rating(bo, fixture_map).games == 1


def test_an_unranked_duel_goes_on_after_a_missed_round_and_is_never_rated(fixture_map, ada, bo):
    t0 = timezone.now()
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN, now=t0)
    duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=bo, now=t0)
    duel.refresh_from_db()
    duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    duels.duel_guess(duel_id=duel.id, player_id=ada.id, round_index=0, lat=48, lon=9, now=rnd.started_at)
    rnd.refresh_from_db()
    duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=3))
    duel.refresh_from_db()
    assert duel.status == Duel.ACTIVE and not RatingEvent.objects.exists()


def finish_overdue_in_threads(work, n=2):
    start, failures = threading.Barrier(n), []

    def run():
        try:
            start.wait(timeout=10)
            work()
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return failures


@pytest.mark.django_db(transaction=True)
def test_two_workers_finishing_a_ranked_duel_at_once_rate_it_once(fixture_map, ada, bo, caplog):
    """Two sweeps (two workers) end the same overdue last round at once: one finishes the duel and
    rates it; the other finds it finished."""
    t0 = timezone.now()
    duel, rnd = ranked_duel(fixture_map, ada, bo, t0)
    duels.duel_guess(duel_id=duel.id, player_id=ada.id, round_index=0, lat=48, lon=9, now=rnd.started_at)
    rnd.refresh_from_db()
    overdue = rnd.deadline + timedelta(seconds=3)
    failures = finish_overdue_in_threads(lambda: duels.duels_advance_overdue(now=overdue))
    assert not failures and not [r for r in caplog.records if r.levelname == "ERROR"]
    duel.refresh_from_db()
    assert duel.status == Duel.FINISHED
    assert RatingEvent.objects.filter(game=duel.game).count() == 1
    assert (rating(ada, fixture_map).games, rating(bo, fixture_map).games) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_ratings_of_the_same_game_rate_it_once(fixture_map, ada, bo):
    """Rating calls that race past the duel's lock (a redelivered task): the unique rating event
    lets one of them through; the rows are locked, so no update is lost."""
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=1)
    ranked.rating_get(ada, fixture_map), ranked.rating_get(bo, fixture_map)
    results = []

    def rate():
        results.append(ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(bo)], score=1.0))

    failures = finish_overdue_in_threads(rate, n=4)
    assert not failures
    assert sum(r is not None for r in results) == 1 and RatingEvent.objects.count() == 1
    assert (rating(ada, fixture_map).games, rating(bo, fixture_map).games) == (1, 1)
    expected = glicko2.rate(glicko2.Rating(), [glicko2.Result(glicko2.Rating(), 1.0)])
    assert rating(ada, fixture_map).rating == pytest.approx(expected.rating)


@pytest.mark.django_db(transaction=True)
def test_concurrent_games_of_one_player_lose_no_update(fixture_map, ada):
    """Four games of Ada against four machines rated at once: her row is locked, so every game counts."""
    opponents = [machine_player_get(name) for name in ("random", "centroid", "ensemble", "transfer")]
    games = [Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=i) for i in range(4)]
    ranked.rating_get(ada, fixture_map)
    pending = list(zip(games, opponents, strict=True))
    lock = threading.Lock()

    def rate():
        with lock:
            game, opponent = pending.pop()
        ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(opponent)], score=1.0)

    assert not finish_overdue_in_threads(rate, n=4)
    assert rating(ada, fixture_map).games == 4 and RatingEvent.objects.count() == 4


# -- Pages ---------------------------------------------------------------------------------------


def test_the_players_page_and_the_machines_page_show_ratings(fixture_map, ada):
    client = Client()
    client.force_login(ada.user)
    assert b'id="no-ratings"' in client.get("/me/").content
    machine = machine_player_get("centroid")
    game = Game.objects.create(player=ada, map=fixture_map, rounds_total=1, seed=1)
    ranked.match_rate(game=game, sides=[ranked.Side(ada), ranked.Side(machine)], score=1.0)
    page = client.get("/me/").content.decode()
    mine = rating(ada, fixture_map)
    assert 'id="ratings-table"' in page and f">{round(mine.rating):,}<" in page
    assert f"± {round(mine.deviation)}" in page
    page = Client().get("/machines/").content.decode()
    theirs = rating(machine, fixture_map)
    assert f'data-player="centroid" data-map="{fixture_map.slug}"' in page
    assert f'<td class="num rating">{round(theirs.rating)}</td>' in page
    assert f"± {round(theirs.deviation)}" in page and 'id="no-machine-ratings"' not in page


def test_the_lobby_refuses_a_ranked_duel_without_an_account(fixture_map, ada):
    client = Client()
    response = client.post(
        "/duels/", {"map": fixture_map.slug, "opponent": "centroid", "ranked": "on", "display_name": "X"}
    )
    assert response.status_code == 400 and b"log in to play a ranked duel" in response.content
    assert not Duel.objects.exists()
    client.force_login(ada.user)
    response = client.post("/duels/", {"map": fixture_map.slug, "opponent": "centroid", "ranked": "on"})
    assert response.status_code == 302 and Duel.objects.get().ranked


# -- Calibration ---------------------------------------------------------------------------------


def test_calibration_plays_machine_vs_machine_games_and_rates_them(
    fixture_map, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("calibrate", fixture_map.slug, "--games", "3", "--players", "random,centroid")
    out = capsys.readouterr().out
    assert "3 calibration games" in out and "random vs centroid" in out and "centroid vs random" in out
    events = RatingEvent.objects.select_related("game__player", "game__opponent")
    assert events.count() == 3 and {e.kind for e in events} == {RatingEvent.CALIBRATION}
    for e in events:
        game = e.game
        assert game.player.kind == game.opponent.kind == Player.MACHINE
        machine_seen = machines.excluded_location_ids("random", fixture_map) | machines.excluded_location_ids(
            "centroid", fixture_map
        )
        assert not set(game.location_order) & machine_seen
        played = Round.objects.filter(game=game).count()
        assert Guess.objects.filter(round__game=game).count() == 2 * played >= 2
    for name in ("random", "centroid"):
        row = rating(machine_player_get(name), fixture_map)
        assert (row.games, row.machine_games) == (3, 3) and row.deviation < 350
    assert not GameResult.objects.exists()  # kept off the leaderboards


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-map"], "unknown map 'no-such-map'"),
        (["{map}", "--games", "0"], "--games must be a whole number from 1 to 1000"),
        (["{map}", "--games", "many"], "--games must be a whole number from 1 to 1000, got 'many'"),
        (["{map}", "--players", "random,nobody"], "unknown player 'nobody'"),
        (["{map}", "--players", "random"], "calibration needs two machine players"),
        (["{map}", "--players", "random,ensemble"], "ensemble cannot play map"),
    ],
)
def test_calibrate_refuses_bad_arguments_in_one_line(fixture_map, args, message):
    args = [a.format(map=fixture_map.slug) for a in args]
    with pytest.raises(CommandError) as refused:
        call_command("calibrate", *args)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert not RatingEvent.objects.exists() and not Rating.objects.exists()
