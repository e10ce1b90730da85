"""Duel tasks: load by id, call the service, return. All of them are safe to run twice, and
none has a result anyone reads (ignore_result spares Redis a write per task)."""

from celery import shared_task
from django.conf import settings

from geogame.common.background import RETRY_ON_DATABASE_ERRORS


@shared_task(name="geogame.duel_tick", acks_late=True, ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def duel_tick(duel_id, waiting_for, round_index):
    """A duel's timer: start a round that is due, or end one whose clock ran out."""
    from .services import duel_timer_fired

    duel_timer_fired(duel_id=duel_id, waiting_for=waiting_for, round_index=round_index)


@shared_task(
    name="geogame.duel_machine_guess",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    **RETRY_ON_DATABASE_ERRORS,
)
def duel_machine_guess(round_id, player_id):
    """The machine's guess, stored at once like inference.machine_guess does (the same
    service), then announced to the duel after the thinking delay."""
    from geogame.game.machines import machine_guess_run

    from .services import duel_machine_guessed

    guess = machine_guess_run(round_id=round_id, player_id=player_id)
    duel_machine_guessed(guess=guess)
    return guess.id


@shared_task(
    name="geogame.duel_machine_announce", acks_late=True, ignore_result=True, **RETRY_ON_DATABASE_ERRORS
)
def duel_machine_announce(round_id, player_id):
    from .services import duel_machine_announce as announce

    announce(round_id=round_id, player_id=player_id)
