"""The duel's WebSocket endpoint, /ws/duel/<id>/. It only speaks the protocol
(geogame.duels.protocol): parse, call a duel service, reply; events come from the
duel's channel-layer group and are forwarded as they are."""

import asyncio
import functools
import json
import logging
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections

from geogame.common import ratelimit

from . import events as duel_events
from . import protocol as duel_protocol
from . import selectors as duel_selectors
from . import services as duel_services
from .models import Duel

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): a socket for a duel without your seat; a path
# with no socket (config.asgi); a client that goes on sending after being told it is too fast.
CLOSE_NOT_SEATED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RATE_LIMITED = 4429
ERR_SERVER = "the server could not take this guess; send it again"
# Every address may send this many times one socket's messages (a few tabs, players behind a NAT).
ADDRESS_FACTOR = 10
# Refused messages refill at this fraction of the message rate: a client that keeps sending
# faster than the limit runs out of them, and is closed with CLOSE_RATE_LIMITED.
STRIKE_FACTOR = 0.1
_address_buckets = {}  # (capacity, rate) -> ratelimit.TokenBuckets, for the sockets of this process


def _message_limits():
    """(burst, per second) for one socket's messages, or None when unlimited."""
    count, period_s = settings.GEOGAME_DUEL_MESSAGE_RATE
    return (count, count / period_s) if count > 0 else None


def _address_bucket(limits):
    capacity, rate = limits[0] * ADDRESS_FACTOR, limits[1] * ADDRESS_FACTOR
    buckets = _address_buckets.get((capacity, rate))
    if buckets is None:
        buckets = _address_buckets[capacity, rate] = ratelimit.TokenBuckets(capacity, rate)
    return buckets


def db(func):
    """`func` run in a thread pool. database_sync_to_async's default runs every socket's calls one
    after another in a single thread; the duel code keeps no per-thread state, so hundreds of
    sockets may read side by side (SQLite still takes writes one at a time).

    The connection is closed (or kept, per CONN_MAX_AGE) inside the call: database_sync_to_async
    closes connections outside the context the call runs in (asgiref 3.13), so a PostgreSQL
    connection per call stayed open until garbage collection."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(run, thread_sensitive=False)


def _seat(duel_public_id, session):
    """(duel id, player id) for the session's seat in the duel, or None."""
    duel, seat = duel_selectors.seat_for_session(duel_public_id, session)
    return None if seat is None else (duel.id, seat.player_id)


def _state(duel_id, player_id, catch_up=False):
    if catch_up:
        # Anything due while no timer ran (e.g. an in-process timer lost in a restart) happens now.
        duel_services.duel_advance(duel_id=duel_id)
    duel = Duel.objects.select_related("game").get(id=duel_id)
    seat = duel_selectors.seat_for_player(duel, player_id)
    return duel_selectors.duel_state(duel, seat), duel.version


def _version(duel_id):
    return Duel.objects.filter(id=duel_id).values_list("version", flat=True).first()


class DuelConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guesses = set()
        self.closed = False
        self.version = 0  # the latest duel version this socket has sent: rate_limited replies carry it
        self.limits = _message_limits()
        if self.limits:
            burst, rate = self.limits
            self.bucket = ratelimit.TokenBucket(burst, rate)
            self.strikes = ratelimit.TokenBucket(burst, rate * STRIKE_FACTOR)

    async def connect(self):
        public_id = self.scope["url_route"]["kwargs"]["duel_id"]
        found = await db(_seat)(public_id, self.scope["session"])
        if found is None:
            await self.close(code=CLOSE_NOT_SEATED)  # before accept: the handshake is refused (403)
            return
        self.duel_public_id = str(public_id)
        self.duel_id, self.player_id = found
        self.group = duel_events.group_name(self.duel_public_id)
        duel_events.remember_loop(asyncio.get_running_loop())
        # Join the group before reading the state: an event is then either in the state or
        # arrives after it (the client drops versions it already has), never lost between.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_state(catch_up=True)

    async def disconnect(self, code):
        self.closed = True
        for task in list(self.guesses):
            await task  # a guess sent just before leaving still counts
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def within_rate(self):
        """Whether this message is within the socket's and its address's budget (no I/O)."""
        if self.limits is None:
            return True
        address = (self.scope.get("client") or ["unknown"])[0]
        return self.bucket.take() and _address_bucket(self.limits).take(address)

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return  # closed for flooding: what was already on its way is dropped
        if not self.within_rate():
            # Refused before anything is parsed or read from the database: flooding costs nothing.
            if self.strikes.take():
                await self.reply("error", version=self.version, reason=duel_protocol.ERR_RATE_LIMITED)
            else:
                self.closed = True
                await self.close(code=CLOSE_RATE_LIMITED)
            return
        try:
            msg = duel_protocol.parse(text_data)
        except duel_protocol.ProtocolError as exc:
            await self.reply("error", reason=exc.reason)
            return
        if isinstance(msg, duel_protocol.Sync):
            await self.send_state()
            return
        # Guesses share the HTTP guess limit of this browser session (geogame.common.ratelimit).
        session_key = self.scope["session"].session_key
        decision = await sync_to_async(ratelimit.hit, thread_sensitive=False)(
            "guess", f"session:{session_key}"
        )
        if not decision.allowed:
            await self.reply(
                "error", reason=duel_protocol.ERR_TOO_MANY.format(seconds=decision.retry_after_s)
            )
            return
        # The guess waits its turn for the database in a task of its own, so that this socket
        # keeps forwarding the duel's events meanwhile (a consumer handles one message at a time).
        task = asyncio.create_task(self.guess(msg))
        self.guesses.add(task)
        task.add_done_callback(self.guesses.discard)

    async def guess(self, msg):
        try:
            ack = await db(duel_services.duel_guess)(
                duel_id=self.duel_id,
                player_id=self.player_id,
                round_index=msg.round,
                lat=msg.lat,
                lon=msg.lon,
                views_seen=msg.views_seen,
                claimed_duel=msg.duel,
            )
        except duel_services.DuelError as exc:
            await self.reply("error", reason=exc.message)
            return
        except Exception:
            # This task's failure would otherwise go unseen (and the socket stays open).
            log.exception("guess on duel %s failed", self.duel_public_id)
            await self.reply("error", reason=ERR_SERVER)
            return
        await self.reply("guess_ack", **ack)

    async def send_state(self, catch_up=False):
        state, version = await db(_state)(self.duel_id, self.player_id, catch_up)
        self.version = max(self.version, version)
        await self.send(text_data=duel_protocol.message("state", version=version, at=time.time(), **state))

    async def reply(self, kind, version=None, **fields):
        """A message to this client only. It carries the version the duel is at (it moves
        nothing: only broadcast events raise the version)."""
        if self.closed:
            return
        if version is None:
            version = await db(_version)(self.duel_id)
            self.version = max(self.version, version or 0)
        await self.send(text_data=duel_protocol.message(kind, version=version, at=time.time(), **fields))

    # -- Events from the duel's group, named after their type; the text is ready to send.

    async def forward(self, message):
        self.version = max(self.version, json.loads(message["text"])["version"])
        await self.send(text_data=message["text"])

    seat_joined = forward
    round_started = forward
    opponent_guessed = forward
    round_result = forward
    duel_over = forward


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path (config.asgi's last route): closed with CLOSE_NOT_FOUND. Without
    it the router raises, and daphne answers the handshake with 500. Refusing before accept
    would read as 403 (daphne has no 404 for a handshake), so the socket opens and closes at once."""

    async def connect(self):
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
