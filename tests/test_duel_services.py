"""Duel services and pages in-process, with the clock moved by hand (`now=`). Events and timers
are recorded instead of sent (tests/test_duel_ws.py runs the real thing)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from geogame.duels import events as duel_events
from geogame.duels import rules as duel_rules
from geogame.duels import services as duels
from geogame.duels.models import Duel
from geogame.game import services
from geogame.game.models import Guess, Round
from inference.services import machine_player_get
from players.models import Player
from players.sessions import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outbox(monkeypatch, settings):
    """Events, timers and tasks, in the order their transactions committed."""
    sent = {"events": [], "timers": [], "tasks": []}
    monkeypatch.setattr(duel_events, "_group_send", lambda group, message: sent["events"].append(message))
    monkeypatch.setattr(duel_events, "_schedule", lambda *timer: sent["timers"].append(timer))
    monkeypatch.setattr(duels.background, "enqueue", lambda task, *args: sent["tasks"].append((task, args)))
    settings.GEOGAME_DUEL_ROUND_S = 60
    settings.GEOGAME_DEADLINE_GRACE_S = 2.0
    settings.GEOGAME_MACHINE_THINK_S = 3.0  # a fixed think time (the deprecated override)
    settings.GEOGAME_MACHINE_MIN_HUMAN_S = 0.0  # no floor, but where a test sets one
    return sent


@pytest.fixture
def ada(db):
    return Player.objects.create(display_name="Ada")


@pytest.fixture
def bo(db):
    return Player.objects.create(display_name="Bo")


def human_guess(duel, player, lat, lon, now):
    return duels.duel_guess(duel_id=duel.id, player_id=player.id, round_index=0, lat=lat, lon=lon, now=now)


def kinds(outbox):
    return [m["type"] for m in outbox["events"]]


def started_human_duel(fixture_map, ada, bo, django_capture_on_commit_callbacks, t0):
    """Ada against Bo, round 1 started at t0."""
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN, now=t0)
        duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=bo, now=t0)
        duel.refresh_from_db()
        duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    duel.refresh_from_db()
    return duel, Round.objects.get(game=duel.game, index=0)


def test_the_first_guess_leaves_the_other_side_fifteen_seconds(
    fixture_map, ada, bo, outbox, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    duel, rnd = started_human_duel(fixture_map, ada, bo, django_capture_on_commit_callbacks, t0)
    assert kinds(outbox) == ["seat_joined", "round_started"]
    guessed_at = rnd.started_at + timedelta(seconds=10)
    with django_capture_on_commit_callbacks(execute=True):
        ack = human_guess(duel, ada, 48, 9, guessed_at)
    assert ack == {"round": 0, "created": True, "version": 3}
    rnd.refresh_from_db()
    assert rnd.deadline == guessed_at + timedelta(seconds=duel_rules.DROP_S)
    assert kinds(outbox)[-1] == "opponent_guessed"
    with django_capture_on_commit_callbacks(execute=True):  # the same guess again, or another: counted once
        again = human_guess(duel, ada, 1, 2, guessed_at)
    assert again == {"round": 0, "created": False, "version": 3}
    assert (Guess.objects.get(round=rnd, player=ada).lat, kinds(outbox)[-1]) == (48, "opponent_guessed")
    # A timer for the new deadline (plus grace) was set.
    when, task, args = outbox["timers"][-1]
    assert (task, args) == (duels.TICK_TASK, (duel.id, "deadline", 0))
    assert when > rnd.deadline + timedelta(seconds=2)


def test_a_round_nobody_finishes_ends_at_the_deadline_plus_grace_with_zero_for_the_silent_side(
    fixture_map, ada, bo, outbox, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    duel, rnd = started_human_duel(fixture_map, ada, bo, django_capture_on_commit_callbacks, t0)
    with django_capture_on_commit_callbacks(execute=True):
        human_guess(duel, bo, 48, 9, rnd.started_at)
    rnd.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=1))  # within the grace
    assert Duel.objects.get(id=duel.id).round_open
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_advance(duel_id=duel.id, now=rnd.deadline + timedelta(seconds=2.5))
    duel.refresh_from_db()
    assert not duel.round_open and kinds(outbox)[-1] == "round_result"
    ada_guess = Guess.objects.get(round=rnd, player=ada)
    assert ada_guess.timed_out and ada_guess.points == 0
    bo_points = Guess.objects.get(round=rnd, player=bo).points
    assert duel.health == [6000 - bo_points, 6000]
    assert duel.results[0]["damage"] == [bo_points, 0]


def test_a_late_machine_guess_scores_zero_and_is_never_announced(
    fixture_map, ada, outbox, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent="centroid", now=t0)
        duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    machine = machine_player_get("centroid")
    late = rnd.deadline + timedelta(seconds=5)
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_advance(duel_id=duel.id, now=late)  # the deadline passed with no machine guess
    timers = len(outbox["timers"])
    with django_capture_on_commit_callbacks(execute=True):
        guess, created = services.guess_submit(round=rnd, player=machine, lat=48.0, lon=9.0, now=late)
        duels.duel_machine_guessed(guess=guess, now=late)
    assert not created and guess.timed_out and guess.points == 0
    assert len(outbox["timers"]) == timers  # nothing to announce
    duel.refresh_from_db()
    assert duel.results[0]["guesses"][1]["timed_out"] and duel.round_index == 0 and not duel.round_open


def test_a_machine_guess_is_announced_after_the_thinking_delay_and_a_stale_announcement_is_dropped(
    fixture_map, ada, outbox, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent="centroid", now=t0)
        duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    machine = machine_player_get("centroid")
    assert outbox["tasks"] == [(duels.MACHINE_GUESS_TASK, (rnd.id, machine.id))]  # at round start
    stored_at = rnd.started_at + timedelta(seconds=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        guess, _ = services.guess_submit(round=rnd, player=machine, lat=48.0, lon=9.0, now=stored_at)
        guess = services.machine_think_record(guess)  # as the worker does (inference.services)
        duels.duel_machine_guessed(guess=guess, now=stored_at)
    when, task, args = outbox["timers"][-1]
    assert when == rnd.started_at + timedelta(seconds=3)  # GEOGAME_MACHINE_THINK_S after the start
    assert (task, args) == (duels.ANNOUNCE_TASK, (rnd.id, machine.id))

    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_machine_announce(round_id=rnd.id, player_id=machine.id, now=when)
    assert kinds(outbox)[-1] == "opponent_guessed"
    assert "lat" not in outbox["events"][-1]["text"]
    version = Duel.objects.get(id=duel.id).version
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_machine_announce(round_id=rnd.id, player_id=machine.id, now=when)  # redelivered
    assert Duel.objects.get(id=duel.id).version == version


def test_a_timer_for_a_moment_already_dealt_with_does_nothing(
    fixture_map, ada, bo, outbox, django_capture_on_commit_callbacks
):
    duel, rnd = started_human_duel(fixture_map, ada, bo, django_capture_on_commit_callbacks, timezone.now())
    version = duel.version
    duels.duel_timer_fired(duel_id=duel.id, waiting_for="start", round_index=0)  # round 1 has started
    assert Duel.objects.get(id=duel.id).version == version


def test_a_sweep_does_what_the_lost_timers_would_have_done_and_nothing_early(
    fixture_map, ada, outbox, django_capture_on_commit_callbacks
):
    """No timer task ever runs here: the sweep alone starts round 1, announces the machine's
    stored guess once it has "thought", and ends the round at its deadline plus grace."""
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent="centroid", now=t0)
    machine = machine_player_get("centroid")

    def sweep(now):
        with django_capture_on_commit_callbacks(execute=True):
            duels.duels_advance_overdue(now=now)
        return kinds(outbox)

    assert sweep(duel.next_round_at - timedelta(seconds=0.1)) == []
    assert sweep(duel.next_round_at) == ["round_started"]
    assert sweep(duel.next_round_at) == ["round_started"]
    rnd = Round.objects.get(game=duel.game, index=0)
    with django_capture_on_commit_callbacks(execute=True):
        guess, _ = services.guess_submit(round=rnd, player=machine, lat=48.0, lon=9.0, now=rnd.started_at)
        services.machine_think_record(guess)
    assert sweep(rnd.started_at + timedelta(seconds=2.9)) == ["round_started"]  # still "thinking"
    assert sweep(rnd.started_at + timedelta(seconds=3)) == ["round_started", "opponent_guessed"]
    rnd.refresh_from_db()  # the machine's guess left Ada GEOGAME_DUEL_DROP_S
    assert sweep(rnd.deadline + timedelta(seconds=1.9)) == ["round_started", "opponent_guessed"]
    assert sweep(rnd.deadline + timedelta(seconds=2.1))[-1] == "round_result"
    duel.refresh_from_db()
    assert (duel.version, duel.round_index, duel.round_open) == (3, 0, False)
    assert Guess.objects.get(round=rnd, player=ada).timed_out
    assert duel.results[0]["guesses"][1]["timed_out"] is False


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_end_an_overdue_round_exactly_once(fixture_map, ada, bo, outbox, caplog):
    """Two threads, each with its own database connection, sweep the same overdue duel at once
    (as two workers do): the row lock and the check under it let one of them end the round."""
    t0 = timezone.now()
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN, now=t0)
    duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=bo, now=t0)
    duel.refresh_from_db()
    duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    version = Duel.objects.get(id=duel.id).version
    overdue = rnd.deadline + timedelta(seconds=3)
    start, failures = threading.Barrier(2), []

    def sweep():
        try:
            start.wait(timeout=10)
            duels.duels_advance_overdue(now=overdue)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures and not [r for r in caplog.records if r.levelname == "ERROR"]
    duel.refresh_from_db()
    assert kinds(outbox).count("round_result") == 1
    assert (duel.version, len(duel.results), duel.round_open) == (version + 1, 1, False)
    assert sorted(Guess.objects.filter(round=rnd).values_list("timed_out", flat=True)) == [True, True]


def test_invites_are_for_someone_else_and_only_once(fixture_map, ada, bo, django_capture_on_commit_callbacks):
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN)
    token = duel.seats.get(seat=1).invite_token
    with pytest.raises(duels.DuelError, match="your own duel"):
        duels.duel_join(token=token, player=ada)
    assert duels.duel_join(token=token, player=bo) == duel
    assert duels.duel_join(token=token, player=bo) == duel  # opening the link again
    cy = Player.objects.create(display_name="Cy")
    with pytest.raises(duels.DuelError, match="not valid"):
        duels.duel_join(token=token, player=cy)
    with pytest.raises(duels.DuelError, match="not valid"):
        duels.duel_join(token="nope", player=cy)


def test_a_machine_plays_along_only_between_two_humans(fixture_map, ada):
    with pytest.raises(duels.DuelError, match="only in a duel between two humans"):
        duels.duel_create(player=ada, map=fixture_map, opponent="centroid", third_seat="random")
    with pytest.raises(duels.DuelError, match="unknown player"):
        duels.duel_create(player=ada, map=fixture_map, opponent="nobody")


# -- Pages ------------------------------------------------------------------------------------------


def session_client(player):
    client = Client()
    session = client.session
    session[SESSION_KEY] = player.id
    session.save()
    return client


def test_the_lobby_creates_a_duel_and_refuses_bad_choices(fixture_map):
    client = Client()
    page = client.get("/duels/")
    assert page.status_code == 200
    assert b'id="opponent-centroid"' in page.content and b'id="opponent-human"' in page.content
    r = client.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "nobody"})
    assert r.status_code == 400 and b"unknown player" in r.content
    r = client.post("/duels/", {"display_name": "Ada", "map": "nowhere", "opponent": "centroid"})
    assert r.status_code == 400
    r = client.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    assert r.status_code == 302
    duel = Duel.objects.get()
    assert r["Location"] == f"/duels/{duel.public_id}/"
    page = client.get(r["Location"])
    assert page.status_code == 200 and f'data-ws-path="/ws/duel/{duel.public_id}/"'.encode() in page.content
    assert Client().get(r["Location"]).status_code == 404  # someone without a seat


def test_the_invited_player_joins_by_link_and_sees_the_round_images(
    fixture_map, ada, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN)
    host = session_client(ada)
    page = host.get(f"/duels/{duel.public_id}/")
    token = duel.seats.get(seat=1).invite_token
    assert f"/duels/join/{token}/".encode() in page.content

    guest = Client()
    assert guest.get(f"/duels/join/{token}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = guest.post(f"/duels/join/{token}/", {"display_name": "Bo"})
    assert r.status_code == 302 and r["Location"] == f"/duels/{duel.public_id}/"
    duel.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    assert guest.get(f"/img/{rnd.image_key}/0.jpg").status_code == 200
    assert host.get(f"/img/{rnd.image_key}/0.jpg").status_code == 200
    assert Client().get(f"/img/{rnd.image_key}/0.jpg").status_code == 404


def test_the_classic_game_api_never_serves_a_duel(fixture_map, ada):
    duel = duels.duel_create(player=ada, map=fixture_map, opponent="centroid")
    client = session_client(ada)
    assert client.get(f"/api/games/{duel.game.public_id}/").status_code == 404
    assert client.post(f"/api/games/{duel.game.public_id}/next/").status_code == 404
    assert not Round.objects.filter(game=duel.game).exists()


def test_a_machine_never_announces_before_the_floor_and_an_early_timer_waits(
    fixture_map, ada, outbox, settings, django_capture_on_commit_callbacks
):
    """Think time 3 s, but the human must keep GEOGAME_MACHINE_MIN_HUMAN_S = 20 s: with a 15 s drop
    the announcement waits until 5 s; a timer that fires before then only sets itself again."""
    settings.GEOGAME_MACHINE_MIN_HUMAN_S = 20.0
    settings.GEOGAME_DUEL_DROP_S = 15.0
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel = duels.duel_create(player=ada, map=fixture_map, opponent="centroid", now=t0)
        duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    rnd = Round.objects.get(game=duel.game, index=0)
    machine = machine_player_get("centroid")
    stored_at = rnd.started_at + timedelta(seconds=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        guess, _ = services.guess_submit(round=rnd, player=machine, lat=48.0, lon=9.0, now=stored_at)
        guess = services.machine_think_record(guess)
        duels.duel_machine_guessed(guess=guess, now=stored_at)
    assert guess.time_taken_s == 3.0
    floor_at = rnd.started_at + timedelta(seconds=5)
    assert outbox["timers"][-1] == (floor_at, duels.ANNOUNCE_TASK, (rnd.id, machine.id))
    with django_capture_on_commit_callbacks(execute=True):
        early = floor_at - timedelta(seconds=1)
        duels.duel_machine_announce(round_id=rnd.id, player_id=machine.id, now=early)
    assert kinds(outbox)[-1] == "round_started"  # not announced
    assert outbox["timers"][-1] == (floor_at, duels.ANNOUNCE_TASK, (rnd.id, machine.id))  # set again
    with django_capture_on_commit_callbacks(execute=True):
        duels.duel_machine_announce(round_id=rnd.id, player_id=machine.id, now=floor_at)
    assert kinds(outbox)[-1] == "opponent_guessed"
    rnd.refresh_from_db()
    assert rnd.deadline - rnd.started_at == timedelta(seconds=20)  # the human kept the floor
