"""The ranked queue's WebSocket endpoint, /ws/ranked/queue/<map slug>/ (geogame.duels.queue_protocol).
It only speaks the protocol: join on connect, leave on `leave` or disconnect; the pairing is
geogame.duels.queue's (queue_tick), run by a matcher task of this process for each map it has a
waiting socket on, every GEOGAME_RANKED_QUEUE_TICK_S and at each join."""

import asyncio
import logging
import secrets
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from geogame.common import ratelimit
from geogame.maps.models import Map
from geogame.ranked import matchmaking
from players.sessions import SESSION_KEY, account_player

from . import queue
from . import queue_protocol as qp
from .consumers import CLOSE_RATE_LIMITED, STRIKE_FACTOR, _message_limits, db

log = logging.getLogger(__name__)

_local = {}  # map slug -> sockets of this process waiting on it
_matchers = {}  # map slug -> this process's matcher task


def _join(user, session, address, slug, channel):
    """(Waiting, map name) once the account waits on map `slug`; (None, reason, close code) if not."""
    decision = ratelimit.hit("queue", f"ip:{address}")
    if decision.allowed and session.session_key:
        decision = ratelimit.hit("queue_session", f"session:{session.session_key}")
    if not decision.allowed:
        return None, qp.ERR_TOO_MANY_JOINS.format(seconds=decision.retry_after_s), CLOSE_RATE_LIMITED
    m = Map.objects.filter(slug=slug).first()
    if m is None:
        return None, qp.ERR_NO_MAP, qp.CLOSE_NO_MAP
    player = account_player(user)
    if session.get(SESSION_KEY) != player.id:  # the duel page and socket find the seat by it
        session[SESSION_KEY] = player.id
        session.save()
    w = queue.Waiting(
        player_id=player.id,
        rating=queue.player_rating(player, m),
        joined_at=time.time(),
        channel=channel,
        token=secrets.token_urlsafe(12),
        process=queue.PROCESS,
    )
    if not queue.store().join(slug, w):
        return None, qp.ERR_TWICE, qp.CLOSE_TWICE
    return w, m.name, None


async def _tick(slug, layer):
    try:
        results = await db(queue.queue_tick)(slug)
    except Exception:
        log.exception("ranked queue on %s: pairing failed", slug)
        return
    for channel, fields in results:
        await layer.send(channel, {"type": "queue.result", **fields})


async def _match_loop(slug, layer):
    try:
        while _local.get(slug):
            await _tick(slug, layer)
            await asyncio.sleep(settings.GEOGAME_RANKED_QUEUE_TICK_S)
    finally:
        _matchers.pop(slug, None)


class RankedQueueConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting, self.slug, self.closed = None, None, False
        self.limits = _message_limits()
        if self.limits:
            burst, rate = self.limits
            self.bucket = ratelimit.TokenBucket(burst, rate)
            self.strikes = ratelimit.TokenBucket(burst, rate * STRIKE_FACTOR)

    async def connect(self):
        # Accepted first, so that a refusal says why (a refused handshake reads as a bare 403).
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(qp.ERR_NO_ACCOUNT, qp.CLOSE_NO_ACCOUNT)
            return
        slug = self.scope["url_route"]["kwargs"]["map"]
        address = (self.scope.get("client") or ["unknown"])[0]
        waiting, name_or_reason, code = await db(_join)(
            user, self.scope["session"], address, slug, self.channel_name
        )
        if waiting is None:
            await self.refuse(name_or_reason, code)
            return
        self.waiting, self.slug = waiting, slug
        _local[slug] = _local.get(slug, 0) + 1
        await self.send(
            text_data=qp.message(
                "queued",
                map=name_or_reason,
                rating=round(waiting.rating),
                window=matchmaking.window(0),
                machine_after_s=settings.GEOGAME_RANKED_QUEUE_MACHINE_S,
            )
        )
        if slug not in _matchers:
            _matchers[slug] = asyncio.create_task(_match_loop(slug, self.channel_layer))
        else:
            await _tick(slug, self.channel_layer)  # a join may complete a pair: look now

    async def refuse(self, reason, code):
        self.closed = True
        await self.send(text_data=qp.message("error", reason=reason))
        await self.close(code=code)

    async def disconnect(self, code):
        await self.leave()

    async def leave(self):
        """Out of the queue (if still in it: a matched entry is gone already)."""
        waiting, self.waiting = self.waiting, None
        if waiting is None:
            return
        _local[self.slug] = _local.get(self.slug, 1) - 1
        await db(queue.store().leave)(self.slug, waiting.player_id, waiting.token)

    def within_rate(self):
        return self.limits is None or self.bucket.take()

    async def receive(self, text_data=None, bytes_data=None):
        if self.closed:
            return
        if not self.within_rate():
            if self.strikes.take():
                await self.send(text_data=qp.message("error", reason=qp.ERR_RATE_LIMITED))
            else:
                self.closed = True
                await self.close(code=CLOSE_RATE_LIMITED)
            return
        try:
            qp.parse(text_data)
        except qp.ProtocolError as exc:
            await self.send(text_data=qp.message("error", reason=exc.reason))
            return
        await self.leave()
        self.closed = True
        await self.send(text_data=qp.message("left"))
        await self.close()

    async def queue_result(self, message):
        """From whichever process made this player's duel (queue.queue_tick)."""
        if self.waiting is not None:
            _local[self.slug] = _local.get(self.slug, 1) - 1
        self.waiting = None  # taken out of the queue by whoever matched it
        self.closed = True
        if "error" in message:
            await self.send(text_data=qp.message("error", reason=message["error"]))
            await self.close(code=qp.CLOSE_NO_DUEL)
            return
        fields = {k: message[k] for k in ("duel", "url", "opponent", "waited_s")}
        await self.send(text_data=qp.message("matched", **fields))
        await self.close()
