"""The Celery app. It knows no area: each app connects its own worker signals (its AppConfig.ready)
and its tasks are found in its tasks.py."""

import os

from celery import Celery
from celery.signals import celeryd_init, setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("geogame")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def pool_for_every_thread(sender=None, instance=None, options=None, **kwargs):
    """A worker runs up to --concurrency tasks at once, and a task keeps its database connection
    until it ends (Celery's Django fixup closes it then): the worker's connection pool
    (GEOGAME_DB_POOL_SIZE) is raised to that many, so that no task waits for another's."""
    from django.conf import settings

    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    concurrency = getattr(instance, "concurrency", None) or (options or {}).get("concurrency")
    if isinstance(pool, dict) and concurrency and pool["max_size"] < int(concurrency):
        pool["max_size"] = int(concurrency)


if os.environ.get("GEOGAME_LOG_FORMAT") == "json":

    @setup_logging.connect
    def keep_django_logging(**kwargs):
        """With a receiver here Celery leaves logging alone: workers log JSON lines through
        settings.LOGGING (geogame.common.logs.JsonFormatter) like daphne, not in Celery's own format."""
