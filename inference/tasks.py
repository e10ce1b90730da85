import logging

from celery import shared_task
from django.conf import settings

from geogame.common.background import RETRY_ON_DATABASE_ERRORS

log = logging.getLogger(__name__)


# runs_model: the task loads torch (geogame.common.background runs it in a model process, not in the web one).
@shared_task(
    name="inference.machine_guess",
    acks_late=True,
    runs_model=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    **RETRY_ON_DATABASE_ERRORS,
)
def machine_guess(round_id, player_id):
    """Idempotent: a redelivered task finds the stored guess and stops."""
    from .services import machine_guess_run

    return machine_guess_run(round_id=round_id, player_id=player_id).id


@shared_task(
    name="inference.train_player", acks_late=True, runs_model=True, soft_time_limit=3600, time_limit=3900
)
def train_player(trained_model_id, seed=0):
    """Train a registered TrainedModel row. Safe to redeliver: the run claims the row first, so a
    copy that finds it claimed by a live run, or no longer in training, returns without training."""
    from .models import TrainedModel
    from .training import TrainingClaimed, TrainingClaimLost, train

    tm = TrainedModel.objects.select_related("map").get(id=trained_model_id)
    try:
        return train(tm, seed=seed).status
    except TrainingClaimed as exc:
        log.info("train_player(%s) not run: %s", trained_model_id, exc)
        return tm.status
    except TrainingClaimLost:  # logged by train; the run that took it over goes on
        tm.refresh_from_db()
        return tm.status


@shared_task(
    name="inference.privacy_image_score",
    acks_late=True,
    runs_model=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    **RETRY_ON_DATABASE_ERRORS,
)
def privacy_image_score(map_id, photo_names):
    """The privacy check's image score of photos the web process stored (names in the default
    storage); reads only, so a redelivery computes the same answer."""
    from .privacy_score import privacy_image_score_run

    return privacy_image_score_run(map_id=map_id, photo_names=photo_names)
