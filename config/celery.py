"""The Celery app. It knows no area: each app connects its own worker signals (its AppConfig.ready)
and its tasks are found in its tasks.py."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("geogame")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if os.environ.get("GEOGAME_LOG_FORMAT") == "json":

    @setup_logging.connect
    def keep_django_logging(**kwargs):
        """With a receiver here Celery leaves logging alone: workers log JSON lines through
        settings.LOGGING (geogame.common.logs.JsonFormatter) like daphne, not in Celery's own format."""
