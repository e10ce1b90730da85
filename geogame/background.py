"""Work off the request path: Celery when REDIS_URL is set, else a thread in this process.

Callers name a Celery task and give it small arguments (ids); the in-process
fallback runs the same task body, so `make play` needs no broker or worker.
"""

import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction

log = logging.getLogger(__name__)

# For tasks that are safe to run again (the game's tasks are idempotent): a database that drops
# the task's connection, or refuses connections for a while, runs it again 1, 2, 4 ... 30 s later
# instead of losing it (a machine guess, a duel's timer). tests/test_stack_faults.py drops them.
RETRY_ON_DATABASE_ERRORS = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 10,
}

_executor = None
_executor_lock = threading.Lock()
_pending = set()
_pending_lock = threading.Lock()


def _local_executor():
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="geogame-bg")
        return _executor


@functools.cache
def _local_tasks():
    from geogame.celery import app

    app.loader.import_default_modules()  # runs the (lazy) autodiscovery of tasks.py modules
    return app.tasks


def _run_local(task_name, args):
    try:
        _local_tasks()[task_name].run(*args)
    except Exception:
        log.exception("background task %s%r failed", task_name, args)
    finally:
        close_old_connections()


def enqueue(task_name, *args):
    """Run `task_name(*args)` after the current transaction commits (never before:
    a worker must not look for rows that may still roll back)."""
    transaction.on_commit(lambda: _submit(task_name, args))


def _submit(task_name, args):
    if settings.REDIS_URL:
        _send(task_name, list(args))
        return
    future = _local_executor().submit(_run_local, task_name, args)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(lambda f: _discard(f))


def _send(task_name, args):
    from geogame.celery import app

    if settings.REDIS_URL == app.conf.broker_url:
        app.send_task(task_name, args=args)  # over the app's pooled connection
        return
    # The app's broker URL is CELERY_BROKER_URL, derived from REDIS_URL at import; a process
    # whose REDIS_URL is set later (tests do) must still send where REDIS_URL points now.
    # A connection per send costs ~6 ms against ~1 ms pooled, which only such processes pay.
    with app.connection_for_write(settings.REDIS_URL) as conn:
        app.send_task(task_name, args=args, connection=conn)


def _discard(future):
    with _pending_lock:
        _pending.discard(future)


def wait_local(timeout=60):
    """Block until in-process background work submitted so far has finished (tests, shutdown)."""
    with _pending_lock:
        futures = list(_pending)
    for f in futures:
        f.result(timeout=timeout)
