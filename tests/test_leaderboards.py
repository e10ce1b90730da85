"""Leaderboards (geogame/leaderboards): each player's best total per map and mode, of all time
and of this week, humans and machines apart, ties broken by total time; read from materialised
totals (GameResult, PlayerBest)."""

import datetime
import re

import pytest
from django.test import Client
from django.utils import timezone

from geogame.duels import events as duel_events
from geogame.duels import services as duel_services
from geogame.duels.models import Duel
from geogame.game import services as game_services
from geogame.game.models import Game, Guess, Round
from geogame.leaderboards import rules, selectors
from geogame.leaderboards.models import GameResult, PlayerBest
from geogame.leaderboards.services import best_raise, result_record
from inference.services import machine_player_get
from players.models import Player
from tests.test_accounts import play_rounds, start_game
from tests.test_study import join, make_study, play_all

pytestmark = pytest.mark.django_db


def test_rules_are_plain_functions():
    monday = datetime.datetime(2026, 11, 30, 0, 0, tzinfo=datetime.UTC)
    assert rules.week_period(monday + datetime.timedelta(days=6, hours=23)) == "week:2026-11-30"
    assert rules.week_period(monday - datetime.timedelta(seconds=1)) == "week:2026-11-23"
    assert rules.is_better(10, 50.0, 9, 1.0) and rules.is_better(10, 40.0, 10, 50.0)
    assert not rules.is_better(10, 50.0, 10, 50.0) and not rules.is_better(9, 1.0, 10, 99.0)
    rows = rules.ranked(
        [
            {"total_points": 9, "total_time_s": 1.0},
            {"total_points": 9, "total_time_s": 1.0},
            {"total_points": 8, "total_time_s": 1.0},
        ]
    )
    assert [r["rank"] for r in rows] == [1, 1, 3]


def test_a_finished_game_is_recorded_once_with_its_totals(fixture_map, django_capture_on_commit_callbacks):
    client = Client()
    game = start_game(client, fixture_map)
    with django_capture_on_commit_callbacks(execute=True):
        play_rounds(client, game, rounds=4)
    assert not GameResult.objects.exists()  # not finished
    with django_capture_on_commit_callbacks(execute=True):
        play_rounds(client, game)
    result = GameResult.objects.get()
    points = sum(g.points for g in Guess.objects.filter(round__game=game))
    assert (result.total_points, result.is_machine, result.mode) == (points, False, "coordinates")
    assert result_record(game=game, player=game.player) is None  # once
    assert set(PlayerBest.objects.values_list("period", flat=True)) == {
        "all",
        rules.week_period(timezone.now()),
    }


def _result(m, player, points, time_s, finished_at=None, mode=Game.COORDINATES):
    """A finished game's result as result_record writes it (without playing the rounds)."""
    game = Game.objects.create(player=player, map=m, mode=mode, seed=1, location_order=[])
    finished_at = finished_at or timezone.now()
    result = GameResult.objects.create(
        game=game,
        player=player,
        map=m,
        mode=mode,
        is_machine=player.kind == "machine",
        total_points=points,
        total_time_s=time_s,
        finished_at=finished_at,
    )
    for period in ("all", rules.week_period(finished_at)):
        best_raise(result, period)
    return result


def test_each_players_best_ranks_with_ties_by_time_and_machines_apart(fixture_map):
    ada, bob, cy = (Player.objects.create(display_name=n) for n in ("Ada", "Bob", "Cy"))
    machine = machine_player_get("centroid")
    _result(fixture_map, ada, 20000, 100.0)
    _result(fixture_map, ada, 21000, 300.0)  # Ada's best
    _result(fixture_map, bob, 21000, 200.0)  # same points, quicker: above Ada
    _result(fixture_map, cy, 5000, 10.0)
    _result(fixture_map, machine, 24000, 50.0)
    _result(fixture_map, ada, 24999, 1.0, mode=Game.CITY)  # another mode's board
    humans = selectors.board(fixture_map, Game.COORDINATES, is_machine=False)
    assert [(r["player__display_name"], r["total_points"], r["rank"]) for r in humans] == [
        ("Bob", 21000, 1),
        ("Ada", 21000, 2),
        ("Cy", 5000, 3),
    ]
    machines = selectors.board(fixture_map, Game.COORDINATES, is_machine=True)
    assert [(r["player_id"], r["total_points"]) for r in machines] == [(machine.id, 24000)]


def test_this_weeks_board_holds_only_games_since_monday(fixture_map):
    ada, bob = Player.objects.create(display_name="Ada"), Player.objects.create(display_name="Bob")
    long_ago = timezone.now() - datetime.timedelta(days=30)
    _result(fixture_map, ada, 24000, 100.0, finished_at=long_ago)
    _result(fixture_map, ada, 10000, 100.0)
    _result(fixture_map, bob, 12000, 100.0)
    week = selectors.board(fixture_map, Game.COORDINATES, is_machine=False, period="week")
    all_time = selectors.board(fixture_map, Game.COORDINATES, is_machine=False)
    assert [(r["player__display_name"], r["total_points"]) for r in week] == [("Bob", 12000), ("Ada", 10000)]
    assert [(r["player__display_name"], r["total_points"]) for r in all_time] == [
        ("Ada", 24000),
        ("Bob", 12000),
    ]


def test_a_machine_opponents_finished_game_is_a_machine_row(fixture_map, django_capture_on_commit_callbacks):
    ada = Player.objects.create(display_name="Ada")
    game = game_services.game_create(player=ada, map=fixture_map, opponent="centroid")
    machine = game.opponent
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            rnd = game_services.round_next(game=game)
            game_services.guess_submit(round=rnd, player=machine, lat=1.0, lon=2.0)
            game_services.guess_submit(round=rnd, player=ada, lat=3.0, lon=4.0)
    assert set(GameResult.objects.values_list("player_id", "is_machine")) == {
        (ada.id, False),
        (machine.id, True),
    }


def test_the_page_shows_both_boards_escapes_names_and_refuses_bad_parameters(fixture_map):
    _result(fixture_map, Player.objects.create(display_name="<img src=x onerror=alert(1)>"), 9000, 9.0)
    _result(fixture_map, machine_player_get("random"), 8000, 9.0)
    client = Client()
    page = client.get(f"/leaderboards/{fixture_map.slug}/?period=week").content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    humans, machines = page.split('id="board-machines"')
    assert "machine-badge" in machines and "9,000" in humans.split('id="board-humans"')[1]
    assert client.get("/leaderboards/").status_code == 200
    assert client.get(f"/leaderboards/{fixture_map.slug}/?mode=bogus").status_code == 400
    assert client.get(f"/leaderboards/{fixture_map.slug}/?period=year").status_code == 400
    r = client.get("/leaderboards/no-such-map/")
    assert r.status_code == 404 and "no such map" in r.content.decode()


def test_the_home_page_is_the_hub(fixture_map):
    page = Client().get("/").content.decode()
    for link in ('href="/daily/"', 'href="/duels/"', 'href="/me/"', 'href="/leaderboards/"', 'id="hub-play"'):
        assert link in page, link


def board_names(client, m, mode):
    """The people's names on `m`'s all-time board page in `mode`."""
    page = client.get(f"/leaderboards/{m.slug}/?mode={mode}").content.decode()
    humans = page.split('id="board-humans"')[1].split("</table>")[0]
    return re.findall(r'<td class="ranking-name">([^<]*)', humans)


def test_duel_and_study_games_never_rank_while_a_classic_game_does(
    fixture_map, study_map, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Every one of these games has all its rounds guessed by its player: only the filter in
    result_record keeps the duel's and the study's off the boards."""
    settings.GEOGAME_DUEL_MAX_ROUNDS = 5
    monkeypatch.setattr(duel_events, "_schedule", lambda *timer: None)  # no timer threads: advanced below
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        classic = start_game(client, fixture_map, name="Classic Cleo")
        play_rounds(client, classic)
    # A duel of two people, played to its last round (the same pins each round: no damage).
    dee, eve = Player.objects.create(display_name="Duel Dee"), Player.objects.create(display_name="Duel Eve")
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        duel = duel_services.duel_create(player=dee, map=fixture_map, opponent=duel_services.HUMAN, now=t0)
        duel_services.duel_join(token=duel.seats.get(seat=1).invite_token, player=eve, now=t0)
    for index in range(duel.game.rounds_total):
        duel.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            duel_services.duel_advance(duel_id=duel.id, now=duel.next_round_at)
            started = Round.objects.get(game=duel.game, index=index).started_at
            for p in (dee, eve):
                duel_services.duel_guess(
                    duel_id=duel.id, player_id=p.id, round_index=index, lat=10.0, lon=20.0,
                    now=started + datetime.timedelta(seconds=5),
                )  # fmt: skip
    duel.refresh_from_db()
    assert duel.status == Duel.FINISHED
    assert Guess.objects.filter(round__game=duel.game, player=dee).count() == duel.game.rounds_total == 5
    # A study participant's game, every trial answered.
    study = make_study(study_map, practice_count=1, test_count=2)
    participant_client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        participant = join(participant_client, study)
        play_all(participant_client, participant)
    game = participant.game
    assert Guess.objects.filter(round__game=game, player=game.player).count() == game.rounds_total

    assert set(GameResult.objects.values_list("game_id", flat=True)) == {classic.id}
    assert set(PlayerBest.objects.values_list("result__game_id", flat=True)) == {classic.id}
    assert board_names(client, fixture_map, Game.COORDINATES) == ["Classic Cleo"]
    assert board_names(client, study_map, study.mode) == []
