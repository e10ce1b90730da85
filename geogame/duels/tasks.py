"""Duel tasks: load by id, call the service, return. All of them are safe to run twice, and
none has a result anyone reads (ignore_result spares Redis a write per task)."""

from celery import shared_task
from django.conf import settings

from geogame.common import background
from geogame.common.background import RETRY_ON_DATABASE_ERRORS

MODEL_GUESS_TASK = "inference.machine_guess"  # the model's part of a duel's machine guess


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
    from geogame.game.models import Guess

    from .services import duel_machine_guessed

    # The model runs where model tasks run: here in a worker, in a model process when in-process.
    guess_id = background.model_task_result(MODEL_GUESS_TASK, round_id, player_id)
    duel_machine_guessed(guess=Guess.objects.select_related("round__game").get(id=guess_id))
    return guess_id


@shared_task(
    name="geogame.duel_machine_announce", acks_late=True, ignore_result=True, **RETRY_ON_DATABASE_ERRORS
)
def duel_machine_announce(round_id, player_id):
    from .services import duel_machine_announce as announce

    announce(round_id=round_id, player_id=player_id)
