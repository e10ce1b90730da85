"""Work off the request path: Celery when REDIS_URL is set, else a thread in this process.

Callers name a Celery task and give it small arguments (ids); the in-process
fallback runs the same task body, so `make play` needs no broker or worker.
Tasks declared with `runs_model=True` load torch. Without Redis they run in a child process
(GEOGAME_LOCAL_MODEL_PROCESS), never in the process serving HTTP: that one stays torch-free as a
web process beside Celery workers is. `wait_for` is for a request that needs a task's result.
In-process timers (`call_later`) share ONE thread that sleeps until the earliest is due and
hands it to the same small pool: a thousand pending duel timers are a thousand heap entries,
not a thousand OS threads.
"""

import functools
import heapq
import itertools
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

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


_local_tasks_lock = threading.Lock()


def _local_tasks():
    """The task registry, autodiscovered once. Under a lock: tasks submitted at once (a daily's
    machine rounds) would otherwise read the registry while another thread is still filling it."""
    with _local_tasks_lock:
        return _local_tasks_loaded()


@functools.cache
def _local_tasks_loaded():
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


class NoAnswer(Exception):
    """No worker returned the task's result in time (a request answers 503)."""


_model_pool = None
_model_pool_lock = threading.Lock()
_in_model_process = False  # True in a child process of _model_processes


def _model_processes():
    """Child processes (spawned, not forked: the parent runs threads and an event loop) that run
    the tasks declared `runs_model`, each with its own Django set up from the inherited environment."""
    global _model_pool
    with _model_pool_lock:
        if _model_pool is None or getattr(_model_pool, "_broken", False):  # a child died (OOM): anew
            _model_pool = ProcessPoolExecutor(
                max_workers=max(1, settings.GEOGAME_LOCAL_MODEL_PROCESSES),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_model_process_start,
            )
        return _model_pool


def _model_process_start():
    global _in_model_process
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    _in_model_process = True


def _run_in_model_process(task_name, args):
    try:
        return _local_tasks()[task_name].run(*args)
    finally:
        close_old_connections()


def _runs_model(task_name):
    return getattr(_local_tasks().get(task_name), "runs_model", False)


def _in_child_process(task_name):
    """Whether `task_name`, run in-process, goes to a model process rather than running here."""
    return settings.GEOGAME_LOCAL_MODEL_PROCESS and not _in_model_process and _runs_model(task_name)


def _log_failure(task_name, args):
    def log_failure(future):
        if not future.cancelled() and future.exception() is not None:
            log.error("background task %s%r failed", task_name, args, exc_info=future.exception())

    return log_failure


def model_task_result(task_name, *args):
    """From a task body: model task `task_name(*args)`'s result, computed here in a Celery worker,
    or in a model process when this is the web process running tasks in-process."""
    if settings.REDIS_URL:
        from config.celery import app

        # Registered in a worker. Not _local_tasks(): its import_default_modules would set Django
        # up again, and Django's logging configuration would replace the worker's.
        return app.tasks[task_name].run(*args)
    if not _in_child_process(task_name):
        return _local_tasks()[task_name].run(*args)
    task = _local_tasks()[task_name]
    timeout_s = getattr(task, "time_limit", None) or settings.CELERY_TASK_TIME_LIMIT
    return _model_processes().submit(_run_in_model_process, task_name, args).result(timeout=timeout_s)


def wait_for(task_name, *args, timeout_s):
    """From a request: `task_name(*args)`'s result, from a Celery worker (REDIS_URL) or in-process
    (a model process for `runs_model` tasks), or NoAnswer after `timeout_s` seconds. The task must
    be idempotent: one that answered late may still run."""
    if settings.REDIS_URL:
        return _wait_for_worker(task_name, list(args), timeout_s)
    if not _in_child_process(task_name):
        return _local_tasks()[task_name].run(*args)
    future = _model_processes().submit(_run_in_model_process, task_name, args)
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        future.cancel()  # if it has not started
        raise NoAnswer(f"no model process returned {task_name} within {timeout_s:g} s") from None


def _wait_for_worker(task_name, args, timeout_s):
    from celery.exceptions import TimeoutError as CeleryTimeout

    from config.celery import app

    task_id = _send(task_name, args)
    result = app.AsyncResult(task_id, backend=_result_backend(settings.REDIS_URL))
    try:
        return result.get(timeout=timeout_s, propagate=True)
    except CeleryTimeout:
        raise NoAnswer(f"no Celery worker returned {task_name} within {timeout_s:g} s") from None
    finally:
        result.forget()  # read once: Redis need not keep it for a day


@functools.lru_cache(maxsize=4)
def _result_backend(url):
    """The app's result backend, or one for `url` when REDIS_URL was set after import (tests)."""
    from celery.app.backends import by_url

    from config.celery import app

    if app.conf.result_backend == url:
        return app.backend
    backend_class, backend_url = by_url(url, app.loader)
    return backend_class(app=app, url=backend_url)


def enqueue(task_name, *args):
    """Run `task_name(*args)` after the current transaction commits (never before:
    a worker must not look for rows that may still roll back)."""
    transaction.on_commit(lambda: _submit(task_name, args))


def _submit(task_name, args):
    if settings.REDIS_URL:
        _send(task_name, list(args))
        return
    if _in_child_process(task_name):
        future = _model_processes().submit(_run_in_model_process, task_name, args)
        future.add_done_callback(_log_failure(task_name, args))
        _track(future)
        return
    _track(_local_executor().submit(_run_local, task_name, args))


def _send(task_name, args):
    """Send the task to the Celery queue; its id."""
    from config.celery import app

    if settings.REDIS_URL == app.conf.broker_url:
        return app.send_task(task_name, args=args).id  # over the app's pooled connection
    # The app's broker URL is CELERY_BROKER_URL, derived from REDIS_URL at import; a process
    # whose REDIS_URL is set later (tests do) must still send where REDIS_URL points now.
    # A connection per send costs ~6 ms against ~1 ms pooled, which only such processes pay.
    with app.connection_for_write(settings.REDIS_URL) as conn:
        return app.send_task(task_name, args=args, connection=conn).id


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
