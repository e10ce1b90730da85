"""A worker's machine guesses and its batchers: an idle player's batcher stops and is built again
on the next guess, and a stuck forward pass fails the guess with a timeout instead of hanging."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from geogame.game import services
from geogame.game.models import Guess
from inference import registry
from inference import services as machine_services
from inference.batching import BatchTimeout, default_batch_max
from inference.runtime import device
from players.models import Player

pytestmark = pytest.mark.django_db

JOIN_TIMEOUT_S = 30


def centroid_game(m):
    ada = Player.objects.create(display_name="Ada")
    return services.game_create(player=ada, map=m, opponent="centroid", rounds_total=2)


def machine_guess(game, rnd):
    return machine_services.machine_guess_run(round_id=rnd.id, player_id=game.opponent_id)


def centroid_batcher(m):
    return machine_services._pool.batchers()[("centroid", m.id)]


def test_an_idle_players_batcher_stops_and_the_next_guess_builds_a_fresh_one(trainable_map, settings):
    settings.GEOGAME_BATCHER_IDLE_S = 0.05
    game = centroid_game(trainable_map)
    first_round = services.round_next(game=game)
    assert machine_guess(game, first_round).round_id == first_round.id
    first = centroid_batcher(trainable_map)
    assert first.join(JOIN_TIMEOUT_S), "the idle batcher's thread did not stop"
    assert first.fn is None  # it no longer holds the player's model

    services.guess_submit(round=first_round, player=game.player, lat=0.0, lon=0.0)
    second_round = services.round_next(game=game)
    assert machine_guess(game, second_round).round_id == second_round.id
    assert centroid_batcher(trainable_map) is not first


def test_a_machine_guess_whose_forward_pass_is_stuck_fails_with_a_timeout(
    trainable_map, settings, monkeypatch
):
    settings.GEOGAME_MACHINE_GUESS_TIMEOUT_S = 0.05
    release = threading.Event()
    player = registry.load_player("centroid", trainable_map)
    real_predict = player.predict

    def stuck_predict(locations):  # a forward pass that does not come back until released
        release.wait(JOIN_TIMEOUT_S)
        return real_predict(locations)

    monkeypatch.setattr(player, "predict", stuck_predict)
    game = centroid_game(trainable_map)
    rnd = services.round_next(game=game)
    try:
        with pytest.raises(
            BatchTimeout, match=rf"machine centroid's prediction for round {rnd.id}: no result within 0\.05 s"
        ):
            machine_guess(game, rnd)
    finally:
        release.set()
    assert not Guess.objects.filter(round=rnd, player__kind=Player.MACHINE).exists()


def test_a_workers_batch_size_is_the_setting_or_else_its_devices_default(trainable_map, settings):
    settings.GEOGAME_BATCH_MAX = None
    assert machine_services.batch_max() == default_batch_max(device())
    game = centroid_game(trainable_map)
    machine_guess(game, services.round_next(game=game))
    assert centroid_batcher(trainable_map).max_batch == default_batch_max(device())
    settings.GEOGAME_BATCH_MAX = 4
    assert machine_services.batch_max() == 4


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_batch_size_setting_stops_the_process_with_one_line(value):
    run = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.GEOGAME_BATCH_MAX"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "GEOGAME_BATCH_MAX": value},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "GEOGAME_BATCH_MAX" in last
