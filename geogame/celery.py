import logging
import os
import threading

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geogame.settings")

app = Celery("geogame")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)
_sweeping = threading.Event()
_stop_sweeping = threading.Event()


@worker_init.connect
def tune_allocator_for_the_model(**kwargs):
    """Before the pool's threads start: they keep the malloc arena they start with."""
    from inference.runtime import tune_allocator

    tune_allocator()


@worker_ready.connect
def start_duel_sweeper(**kwargs):
    """A thread that advances overdue duels at once (a restarted worker catches up) and then every
    GEOGAME_DUEL_SWEEP_S: a duel goes on even when its timer tasks were lost with the broker."""
    from django.conf import settings

    if settings.GEOGAME_DUEL_SWEEP_S <= 0 or _sweeping.is_set():
        return
    _sweeping.set()
    args = (settings.GEOGAME_DUEL_SWEEP_S,)
    threading.Thread(target=_sweep_duels, args=args, name="geogame-duel-sweep", daemon=True).start()


@worker_ready.connect
def start_retention_purge(**kwargs):
    """Every GEOGAME_PURGE_EVERY_H, one worker (the first to take the lock in Redis) purges abandoned
    anonymous players, expired sessions and old kept privacy checks (players/retention.py)."""
    from players.retention import schedule_purge

    schedule_purge()


@worker_shutdown.connect
def stop_duel_sweeper(**kwargs):
    _stop_sweeping.set()


def _sweep_duels(interval_s):
    from django.db import close_old_connections

    from geogame.duel_services import duels_advance_overdue

    failing = False
    while True:
        close_old_connections()
        try:
            duels_advance_overdue()
        except Exception:
            if not failing:  # once per outage, not once a second
                log.exception("could not advance overdue duels; trying again every %s s", interval_s)
            failing = True
        else:
            if failing:
                log.info("advancing overdue duels again")
            failing = False
        finally:
            close_old_connections()
        if _stop_sweeping.wait(interval_s):
            return


if os.environ.get("GEOGAME_LOG_FORMAT") == "json":

    @setup_logging.connect
    def keep_django_logging(**kwargs):
        """With a receiver here Celery leaves logging alone: workers log JSON lines through
        settings.LOGGING (geogame.logs.JsonFormatter) like daphne, not in Celery's own format."""
