"""A database that stops answering (a restart, dropped connections, a failover) fails each request
at once with 503 and a message saying so, instead of Django's bare "Server Error (500)" page; the
next request opens a fresh connection and succeeds once the database is back."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

ERR_DATABASE_UNAVAILABLE = "the database is unavailable right now; try again in a few seconds"
RETRY_AFTER_S = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.error("database unavailable: %s %s", request.method, request.path, exc_info=exception)
        wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
        if wants_json:
            response = JsonResponse({"error": ERR_DATABASE_UNAVAILABLE}, status=503)
        else:
            response = HttpResponse(ERR_DATABASE_UNAVAILABLE + "\n", content_type="text/plain", status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        response["Cache-Control"] = "no-store"
        return response
