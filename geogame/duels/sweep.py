"""The workers' sweep: a thread in each Celery worker that advances overdue duels (connected to the
worker's signals in DuelsConfig.ready)."""

import logging
import threading

from celery.signals import worker_ready, worker_shutdown

log = logging.getLogger(__name__)
_sweeping = threading.Event()
_stop_sweeping = threading.Event()


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


@worker_shutdown.connect
def stop_duel_sweeper(**kwargs):
    _stop_sweeping.set()


def _sweep_duels(interval_s):
    from django.db import close_old_connections

    from .services import duels_advance_overdue

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
