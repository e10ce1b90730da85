"""What /healthz checks: the database, Redis and a Celery worker on this deployment's queue (when
REDIS_URL is set), and the model artefacts. Every check is cheap enough for a probe every few
seconds: a query, a ping, a remote-control round trip, file lookups (no model is loaded).

Anyone may ask; only staff, or a caller sending GEOGAME_HEALTH_TOKEN in the X-Health-Token header,
sees each check's detail (maps, versions, backend error text). Others get the status and the names
of the failing checks."""

import functools
import hmac
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection


class _Found(Exception):
    """Raised from the reply callback to stop collecting replies at the first useful one."""


_workers_probe = threading.Lock()


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True, "vendor": connection.vendor}


def check_redis(url):
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    return {"ok": True}


def check_workers(url, queue, timeout_s):
    """A worker consuming `queue` answers a remote-control `active_queues` within `timeout_s`.

    Replies are collected until the first worker on this queue answers, so a healthy probe costs
    one round trip; with none, the probe waits `timeout_s` and fails."""
    from config.celery import app

    found = []

    def on_reply(reply):
        for hostname, queues in reply.items():
            if any(q.get("name") == queue for q in queues or ()):
                found.append(hostname)
                raise _Found

    control_app = app if app.conf.broker_url == url else _control_app(url)
    with _workers_probe:
        try:
            control_app.control.broadcast("active_queues", reply=True, timeout=timeout_s, callback=on_reply)
        except _Found:
            pass
        finally:
            # The other workers' replies come after this probe stopped listening; the next probe
            # reads them and keeps them by ticket, which nothing ever asks for: let them go.
            control_app.control.mailbox.unclaimed.clear()
    if found:
        return {"ok": True, "queue": queue, "worker": found[0]}
    return {
        "ok": False,
        "queue": queue,
        "error": f"no Celery worker on queue {queue!r} answered within {timeout_s} s",
    }


@functools.lru_cache(maxsize=4)
def _control_app(url):
    """A Celery app for remote control over `url`. The main app publishes on the broker URL fixed
    at import (from REDIS_URL then); a process whose REDIS_URL is set later (tests) needs this."""
    from celery import Celery

    return Celery("geogame-health", broker=url, set_as_current=False)


_CHECKS = {}  # name -> (check, needs_database): other apps' checks (InferenceConfig.ready: "artefacts")


def register_check(name, check, *, needs_database=False):
    """Add `check()` -> {"ok": bool, ...} to the report as `name`; `needs_database`: skipped while the
    database does not answer."""
    _CHECKS[name] = (check, needs_database)


def _timed(check, *args):
    start = time.perf_counter()
    try:
        result = check(*args)
    except Exception as exc:  # any failure is this check's answer, named
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:500]}
    result["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def health():
    """(healthy, report): each check's result, and the names of those failing."""
    checks = {"database": _timed(check_database)}
    if settings.REDIS_URL:
        checks["redis"] = _timed(check_redis, settings.REDIS_URL)
        if checks["redis"]["ok"]:
            timeout_s = settings.GEOGAME_HEALTH_WORKER_TIMEOUT_S
            checks["workers"] = _timed(
                check_workers, settings.REDIS_URL, settings.CELERY_TASK_DEFAULT_QUEUE, timeout_s
            )
        else:
            checks["workers"] = {"ok": None, "skipped": "Redis does not answer"}
    for name, (check, needs_database) in _CHECKS.items():
        if needs_database and not checks["database"]["ok"]:
            checks[name] = {"ok": None, "skipped": "the database does not answer"}
        else:
            checks[name] = _timed(check)
    # A check skipped because another failed is not named: the other is the cause.
    failing = [name for name, result in checks.items() if result["ok"] is False]
    return not failing, {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}


TOKEN_HEADER = "HTTP_X_HEALTH_TOKEN"  # X-Health-Token


def may_see_detail(request):
    """The configured token (compared in constant time), or a staff user. The token is checked
    first: finding the user reads the session, which needs the database this probe may report down."""
    token = settings.GEOGAME_HEALTH_TOKEN
    sent = request.META.get(TOKEN_HEADER, "")
    if token and hmac.compare_digest(sent.encode(), token.encode()):
        return True
    try:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and user.is_staff)
    except DatabaseError:
        return False


def visible_report(report, *, detail):
    """The report as `detail` allows: in full, or only the status and the failing checks' names."""
    return report if detail else {"status": report["status"], "failing": report["failing"]}
