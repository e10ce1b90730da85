"""Two guards around every view. RefuseNulMiddleware: a NUL character anywhere in a request's
address, cookies or form is a 400, before it reaches a database that would fail on it.
DatabaseUnavailableMiddleware: a database that stops answering (a restart, dropped connections,
a failover) fails each request at once with 503 and a message saying so, instead of Django's bare
"Server Error (500)" page; the next request opens a fresh connection and succeeds once the
database is back."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

ERR_DATABASE_UNAVAILABLE = "the database is unavailable right now; try again in a few seconds"
ERR_DATA = "the request holds a value the database cannot take: {reason}"
RETRY_AFTER_S = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DataError):
            # A value the database refuses (PostgreSQL: NUL in a multipart form field used in a
            # lookup, which RefuseNulMiddleware does not parse): the request's fault, not ours.
            log.warning("database refused a value: %s %s: %s", request.method, request.path, exception)
            return _answer(request, ERR_DATA.format(reason=exception), status=400)
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.error("database unavailable: %s %s", request.method, request.path, exc_info=exception)
        response = _answer(request, ERR_DATABASE_UNAVAILABLE, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        response["Cache-Control"] = "no-store"
        return response


def _answer(request, message, status):
    """An error as JSON for the API (or a client asking for JSON), else as plain text."""
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"error": message}, status=status)
    return HttpResponse(message + "\n", content_type="text/plain; charset=utf-8", status=status)


ERR_NUL = "the request holds a NUL character (%00), which no address, parameter or form field takes"


class RefuseNulMiddleware:
    """400 for a request with NUL in its path, query string, cookies or urlencoded form.

    PostgreSQL refuses NUL in any text it is given, a lookup's parameter too, so a NUL reaching
    `Map.objects.filter(slug=...)` or a `<str:token>` lookup was a 500 there (and passed on
    SQLite). No field of the site takes one; text inside JSON bodies and multipart forms is
    checked where it is read (geogame.common.text_input). A body is only read here when it is an
    urlencoded form, which Django reads whole anyway."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return _answer(request, ERR_NUL, status=400)
        return self.get_response(request)

    @staticmethod
    def _has_nul(request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return True
        if any("\x00" in key or "\x00" in value for key, value in request.COOKIES.items()):
            return True
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            try:
                body = request.body
            except RequestDataTooBig:
                return False  # the view's own reading of it refuses it
            return b"%00" in body or b"\x00" in body
        return False
