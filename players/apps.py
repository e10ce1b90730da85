from django.apps import AppConfig


def start_retention_purge(**kwargs):
    """Every GEOGAME_PURGE_EVERY_H, one worker (the first to take the lock in Redis) purges abandoned
    anonymous players, expired sessions and old kept privacy checks (players/retention.py)."""
    from .retention import schedule_purge

    schedule_purge()


class PlayersConfig(AppConfig):
    name = "players"

    def ready(self):
        from celery.signals import worker_ready

        worker_ready.connect(start_retention_purge)
