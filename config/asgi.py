import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

# Imported after Django is set up: they load models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from geogame.duels.consumers import DuelConsumer, NotFoundConsumer  # noqa: E402
from geogame.duels.queue_consumer import RankedQueueConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/duel/<uuid:duel_id>/", DuelConsumer.as_asgi()),
    path("ws/ranked/queue/<slug:map>/", RankedQueueConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),  # anything else: closed with 4404, never a 500
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session cookie says who plays (scope["session"], as request.session does); the Origin
        # check keeps other sites from opening a socket with a visitor's cookie.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

from django.conf import settings  # noqa: E402

if not settings.REDIS_URL:
    # No Celery workers to run the retention purge (players/retention.py): this process does, on its
    # background timer thread. With Redis the workers run it (players/apps.py, on worker_ready).
    from players.retention import schedule_purge  # noqa: E402

    schedule_purge()
