from celery import shared_task
from django.conf import settings

from geogame.background import RETRY_ON_DATABASE_ERRORS


# runs_model: the task loads torch (geogame.background runs it in a model process, not in the web one).
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
    """Train a registered TrainedModel row; a redelivery of a finished one does nothing."""
    from .models import TrainedModel
    from .training import train

    tm = TrainedModel.objects.select_related("map").get(id=trained_model_id)
    if tm.status != TrainedModel.TRAINING:
        return tm.status
    return train(tm, seed=seed).status


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
    from .privacy_services import privacy_image_score_run

    return privacy_image_score_run(map_id=map_id, photo_names=photo_names)
