"""The machine's guess for a round, through the same guess path as a human's."""

import functools
import logging
import time

from django.conf import settings
from django.db import transaction

from geogame.game import services as game_services
from geogame.game.models import Game, Guess, Round
from players.models import Player

from . import batching
from .batching import BatcherPool, MicroBatcher, Reservations
from .registry import PLAYERS_LOADED_MAX, load_player

log = logging.getLogger(__name__)

# One batcher per loaded player, no more than the registry keeps players: a batcher holds its
# player's model, so one kept longer than the registry keeps the player would pin the model.
_pool = BatcherPool(max_batchers=PLAYERS_LOADED_MAX)
_reservations = Reservations()  # machine guesses this process is preparing


def machine_player_get(name):
    """The Player row that represents machine player `name` (one per name)."""
    shown = machine_display_name(name)
    player, _ = Player.objects.get_or_create(
        kind=Player.MACHINE, machine_name=name, defaults={"display_name": shown}
    )
    if player.display_name != shown:  # a row from before the player-facing names
        player.display_name = shown
        player.save(update_fields=["display_name"])
    return player


def machine_display_name(name):
    """What players see for machine player `name`: its title, marked as a machine."""
    from .registry import player_class

    return f"{player_class(name).title or name} (machine)"


def _submit(name, m, location, *, slot):
    """Queue `location` for player `name` on map `m`; returns its future. Concurrent rounds of
    the same player and map share a forward pass."""
    player = load_player(name, m)

    def make():
        return MicroBatcher(
            functools.partial(_predict_batch, player),
            max_batch=batch_max(),
            max_wait_s=settings.GEOGAME_BATCH_WAIT_MS / 1000,
            reservations=_reservations,
            idle_s=settings.GEOGAME_BATCHER_IDLE_S,
        )

    return _pool.submit((name, m.id), location, owner=player, make=make, slot=slot)


def batch_max():
    """GEOGAME_BATCH_MAX, or when unset the default for this worker's device."""
    if settings.GEOGAME_BATCH_MAX is not None:
        return settings.GEOGAME_BATCH_MAX
    from .runtime import device

    return batching.default_batch_max(device())


def _predict_batch(player, locations):
    started = time.perf_counter()
    try:
        return player.predict(locations)
    finally:
        from django.db import close_old_connections

        close_old_connections()
        log.debug("%s: batch of %d in %.1f ms", player.name, len(locations), _ms_since(started))


def _ms_since(started):
    return (time.perf_counter() - started) * 1000


def machine_guess_run(*, round_id, player_id):
    """Compute and store a machine player's guess for a round. Safe to run twice:
    a stored guess is returned as is, and the unique (round, player) constraint
    settles a race between two workers. Returns the Guess."""
    started = time.perf_counter()
    with _reservations.reserve() as slot:  # a batch being collected may wait for this round
        rnd = (
            Round.objects.select_related("game__map", "location")
            .prefetch_related("location__views")
            .get(id=round_id)
        )
        player = Player.objects.get(id=player_id, kind=Player.MACHINE)
        existing = Guess.objects.filter(round=rnd, player=player).first()
        if existing is not None:
            return existing
        future = _submit(player.machine_name, rnd.game.map, rnd.location, slot=slot)
    submitted = time.perf_counter()
    prediction = batching.result(
        future,
        timeout_s=settings.GEOGAME_MACHINE_GUESS_TIMEOUT_S,
        what=f"machine {player.machine_name}'s prediction for round {round_id}",
    )
    predicted = time.perf_counter()
    views = list(range(len(rnd.location.views.all())))
    kwargs = (
        {"city": prediction.city}
        if rnd.game.mode == Game.CITY
        else {"lat": prediction.lat, "lon": prediction.lon}
    )
    with transaction.atomic():  # the guess and its think time commit together
        try:
            guess, created = game_services.guess_submit(round=rnd, player=player, views_seen=views, **kwargs)
        except game_services.GameError as exc:
            if exc.result is None:
                raise
            # Too late: the round recorded a 0-point timeout for the machine; the game goes on.
            log.info("machine %s too late for round %s: %s", player.machine_name, round_id, exc.message)
            guess = exc.result
        else:
            if created:
                guess = game_services.machine_think_record(guess)
    log.debug(
        "machine %s, round %s: read %.1f ms, batched prediction %.1f ms, guess stored %.1f ms",
        player.machine_name,
        round_id,
        (submitted - started) * 1000,
        (predicted - submitted) * 1000,
        _ms_since(predicted),
    )
    return guess
