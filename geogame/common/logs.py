"""Logs: human-readable lines by default, JSON lines with GEOGAME_LOG_FORMAT=json (one object per
line: time, level, logger, message, pid, the request id inside a request, the task inside a
Celery task, and any `extra` fields), and one access line per HTTP request. Either way a record
is one line: text escapes control characters (TextFormatter), JSON escapes them as JSON does."""

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

request_id = contextvars.ContextVar("geogame_request_id", default=None)
access_log = logging.getLogger("geogame.request")
# An id a proxy or client sent (X-Request-ID) is kept when it is this plain; else a new one.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Path segments that are credentials, logged as "[token]": a study participant's resume token (the
# access line then ties no address to a participant). The query string is never logged.
SECRET_PATH_RE = re.compile(r"^(/(?:api/)?study/r/)[^/]+")
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _current_task():
    state = sys.modules.get("celery._state")  # only where Celery is loaded (workers)
    return state.get_current_task() if state else None


def printable(text):
    """`text` with every character that is not printable (newlines, tabs, NUL, ANSI escapes, bidi
    controls) written as Python writes it in a repr: "\\n", "\\x1b", "\\u202e". A request path
    (decoded from %0a...) then cannot start a forged log line or paint the operator's terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class TextFormatter(logging.Formatter):
    """The human-readable format: one record, one line (a traceback follows on lines of its own)."""

    def formatMessage(self, record):
        record.message = printable(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        task = _current_task()
        if task is not None and task.request.id:
            entry.update(task_id=task.request.id, task=task.name)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key != "request":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def loggable_path(path):
    return SECRET_PATH_RE.sub(r"\1[token]", path)


class SecretPathFilter(logging.Filter):
    """Rewrites a credential in a path given as a log argument (loggable_path)."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(loggable_path(a) if isinstance(a, str) else a for a in record.args)
        return True


class RequestLogMiddleware:
    """Gives each request an id (X-Request-ID, on the response too, and in every log line made
    while it runs) and logs one line when it is answered: method, path, status, duration, and the
    CPU time of the thread that ran it (the middleware and the view; not the ASGI server's own work
    around it), which bench/load_stack.py adds up per kind of request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        rid = sent if REQUEST_ID_RE.match(sent) else uuid.uuid4().hex
        token = request_id.set(rid)
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - start) * 1000, 1)
            cpu_ms = round((time.thread_time() - cpu_start) * 1000, 2)
            response["X-Request-ID"] = rid
            status = response.status_code
            # Healthy probes come every few seconds from the orchestrator: kept out of INFO.
            level = logging.ERROR if status >= 500 else logging.INFO
            if request.path == "/healthz" and status == 200:
                level = logging.DEBUG
            path = loggable_path(request.path)
            access_log.log(
                level,
                "%s %s %s %.1f ms",
                request.method,
                path,
                status,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "cpu_ms": cpu_ms,
                },
            )
            return response
        finally:
            request_id.reset(token)
