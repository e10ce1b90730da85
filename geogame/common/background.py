"""Work off the request path: Celery when REDIS_URL is set, else a thread in this process.

Callers name a Celery task and give it small arguments (ids); the in-process
fallback runs the same task body, so `make play` needs no broker or worker.
In-process timers (`call_later`) share ONE thread that sleeps until the earliest is due and
hands it to the same small pool: a thousand pending duel timers are a thousand heap entries,
not a thousand OS threads.
"""

import functools
import heapq
import itertools
import logging
import threading
import time
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
    from config.celery import app

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
    _track(_local_executor().submit(_run_local, task_name, args))


def _send(task_name, args):
    from config.celery import app

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


class Timer:
    """A pending `call_later`: cancel() it before it is due and it never runs."""

    __slots__ = ("due", "fn", "args", "cancelled", "dispatched_at")

    def __init__(self, due, fn, args):
        self.due, self.fn, self.args = due, fn, args
        self.cancelled = False
        self.dispatched_at = None  # time.monotonic() when handed to the pool

    def cancel(self):
        self.cancelled = True


class _TimerThread:
    """One daemon thread over a heap of (due, sequence, Timer), woken by a Condition when an
    earlier timer arrives. The thread only dispatches; the calls run in the pool, so a slow one
    never delays the next timer."""

    def __init__(self):
        self._heap = []
        self._sequence = itertools.count()  # ties in `due` fire in the order they were scheduled
        self._condition = threading.Condition()
        self._thread = None

    def add(self, timer):
        with self._condition:
            heapq.heappush(self._heap, (timer.due, next(self._sequence), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="geogame-timers", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is timer:
                self._condition.notify()  # earlier than what the thread sleeps towards

    def pending(self):
        with self._condition:
            return sum(1 for _, _, timer in self._heap if not timer.cancelled)

    def _run(self):
        while True:
            with self._condition:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        timer = heapq.heappop(self._heap)[2]
                        break
                    self._condition.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
            timer.dispatched_at = time.monotonic()
            try:
                future = _local_executor().submit(_run_call, timer.fn, timer.args)
            except RuntimeError:  # the pool is shut down (interpreter exit)
                return
            _track(future)


_timers = _TimerThread()


def call_later(delay_s, fn, *args):
    """Run `fn(*args)` in this process's background pool after `delay_s` seconds; a Timer to cancel.
    In-process only (no broker): a timer is lost with the process."""
    timer = Timer(time.monotonic() + max(0.0, delay_s), fn, args)
    _timers.add(timer)
    return timer


def pending_timers():
    return _timers.pending()


def _run_call(fn, args):
    try:
        fn(*args)
    except Exception:
        log.exception("timer call %s%r failed", getattr(fn, "__name__", fn), args)
    finally:
        close_old_connections()


def _track(future):
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_discard)
