"""How duel events and timers leave a transaction: only after it commits.

Events go to the duel's channel-layer group, from whichever process made them (daphne
for a human's guess, a Celery worker for a machine's guess or a deadline), and each
daphne process forwards them to its sockets (geogame.duels.consumers). Timers are tasks with
an ETA: Celery's countdown with Redis, a timer thread in-process without.
"""

import asyncio
import logging
import threading
import time

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from geogame.common import background

from . import protocol as duel_protocol

log = logging.getLogger(__name__)

# The event loop of this process's consumers. The in-memory layer's queues belong to it and
# are not thread-safe, so a background thread must hand it the send (see _group_send).
_loop = None
_local = threading.local()


def remember_loop(loop):
    global _loop
    _loop = loop


def group_name(duel_public_id):
    return f"duel.{duel_public_id}"


def publish(duel, kind, **fields):
    """Send event `kind` with the duel's current version to its group once the transaction
    commits; a rolled-back change is never announced. Call with the new version saved."""
    version = duel.version
    group = group_name(duel.public_id)

    def send():
        text = duel_protocol.message(kind, version=version, at=time.time(), **fields)
        _group_send(group, {"type": kind, "text": text})

    transaction.on_commit(send)


def group_send_after_commit(group, message):
    """Send `message` to channel-layer `group` once the transaction commits (geogame.bots wakes a
    bot's long poll this way), from any process, as duel events go."""
    transaction.on_commit(lambda: _group_send(group, message))


def _group_send(group, message):
    layer = get_channel_layer()
    try:
        if isinstance(layer, InMemoryChannelLayer):
            if _loop is None or _loop.is_closed():
                return  # no consumer ever ran in this process: nobody to tell
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _loop).result(timeout=10)
        else:
            _thread_loop().run_until_complete(layer.group_send(group, message))
    except Exception:
        # The change is committed either way; a client that missed the event sees a version gap and syncs.
        log.exception("could not send %s to %s", message["type"], group)


def _thread_loop():
    """This thread's own event loop, kept for its next send. async_to_sync would make a new loop,
    and with it a new Redis connection, for every event (~6 ms against ~0.3 ms); channels_redis
    keeps one connection pool per loop. Publishers are sync threads with no loop running
    (Celery's pool threads, daphne's database thread, in-process background threads)."""
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def run_at(when, task_name, *args):
    """Run the task `task_name(*args)` at `when` (an aware datetime), after the transaction
    commits. Tasks run this way must be idempotent: a redelivery or an early run is harmless."""
    transaction.on_commit(lambda: _schedule(when, task_name, args))


def _schedule(when, task_name, args):
    if settings.REDIS_URL:
        from config.celery import app

        app.send_task(task_name, args=list(args), eta=when)
        return
    delay = max(0.0, (when - timezone.now()).total_seconds())
    # In-process only: a timer lost with the process is made up for when a client reconnects
    # (the consumer asks the duel to catch up).
    background.call_later(delay, background.enqueue, task_name, *args)  # one timer thread for all
