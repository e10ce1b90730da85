"""The ranked queue's state and what it makes: who waits on which map, and the ranked duels made
from it (geogame.ranked.matchmaking says who plays whom).

The queue lives in Redis with REDIS_URL (one hash per map, shared by every daphne process), in this
process without it (one lock). Every change is atomic:
  join    HSETNX: a player waits at most once per map (a second socket is refused);
  leave   a Lua compare-and-delete: only the entry that socket made (not a later one) is removed;
  take    WATCH / MULTI: read the map's entries, plan (matchmaking.plan), remove the planned ones
          in one transaction; if another process changed the hash meanwhile, read again. So two
          processes never take one player twice.
Whoever takes entries makes their duels (queue_tick) and tells each player's socket through the
channel layer (its channel name is in the entry)."""

import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass

from django.conf import settings

from geogame.game import machines
from geogame.maps.models import Map
from geogame.ranked import glicko2, matchmaking
from geogame.ranked.models import Rating
from geogame.ranked.services import current
from players.models import Player

from . import services as duel_services

log = logging.getLogger(__name__)

# This process's name in the entries it adds. With Redis it says it is alive (a key that expires after
# ALIVE_S) at every join and pairing tick; entries of a process that has stopped saying so (killed,
# not stopped: its sockets could not leave) are dropped by the next pairing, never paired.
PROCESS = secrets.token_hex(8)
ALIVE_S = 15
ERR_NO_MACHINE = "no machine player can play this map now; try again later"


@dataclass(frozen=True)
class Waiting:
    player_id: int
    rating: float
    joined_at: float  # time.time() of the process that took the join
    channel: str  # the socket's channel-layer name
    token: str  # this socket's own: leave() removes only the entry it made
    process: str = ""  # PROCESS of the daphne holding the socket

    def entry(self):
        return matchmaking.Entry(str(self.player_id), self.rating, self.joined_at)


def _dump(w):
    return json.dumps(asdict(w), separators=(",", ":"), sort_keys=True)


def _load(text):
    return Waiting(**json.loads(text))


class MemoryQueue:
    """The queue of one process (no REDIS_URL): a dict per map under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.maps = {}

    def join(self, slug, w):
        with self.lock:
            entries = self.maps.setdefault(slug, {})
            if str(w.player_id) in entries:
                return False
            entries[str(w.player_id)] = w
            return True

    def leave(self, slug, player_id, token):
        with self.lock:
            entries = self.maps.get(slug, {})
            w = entries.get(str(player_id))
            if w is not None and w.token == token:
                del entries[str(player_id)]
                return True
            return False

    def take(self, slug, now, machine_after_s):
        with self.lock:
            entries = self.maps.get(slug, {})
            planned = matchmaking.plan([w.entry() for w in entries.values()], now, machine_after_s)
            return _taken(planned, lambda e: entries.pop(e.id))

    def size(self, slug):
        with self.lock:
            return len(self.maps.get(slug, {}))

    def alive(self):
        """One process: its entries' sockets leave when they close."""


LEAVE_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class RedisQueue:
    """The queue shared by every process on REDIS_URL: one hash per map, player id -> entry."""

    def __init__(self, url, prefix):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        self.prefix = prefix
        self.leave_script = self.client.register_script(LEAVE_LUA)

    def key(self, slug):
        return f"{self.prefix}:ranked-queue:{slug}"

    def alive_key(self, process):
        return f"{self.prefix}:ranked-queue-alive:{process}"

    def alive(self):
        """This process is alive: its entries may be paired for ALIVE_S more seconds."""
        self.client.set(self.alive_key(PROCESS), 1, ex=ALIVE_S)

    def join(self, slug, w):
        import redis

        self.alive()
        key, field = self.key(slug), str(w.player_id)
        if self.client.hsetnx(key, field, _dump(w)):
            return True
        # Taken: by a live socket (refused), or by one of a stopped process (replaced).
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                raw = pipe.hget(key, field)
                if raw is not None and not self.stale(pipe, {field: _load(raw)}):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(key, field, _dump(w))
                pipe.execute()
                return True
            except redis.WatchError:
                return False  # changed meanwhile: refused, the client may try again

    def leave(self, slug, player_id, token):
        key, field = self.key(slug), str(player_id)
        raw = self.client.hget(key, field)
        if raw is None or _load(raw).token != token:
            return False
        return bool(self.leave_script(keys=[key], args=[field, raw]))

    def take(self, slug, now, machine_after_s):
        import redis

        key = self.key(slug)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    entries = {k.decode(): _load(v) for k, v in pipe.hgetall(key).items()}
                    stale = self.stale(pipe, entries)
                    live = [w.entry() for k, w in entries.items() if k not in stale]
                    planned = matchmaking.plan(live, now, machine_after_s)
                    if not planned.pairs and not planned.to_machine and not stale:
                        pipe.unwatch()
                        return [], []
                    taken = _taken(planned, entries_by_id(entries))
                    ids = [e.id for pair in planned.pairs for e in pair] + [e.id for e in planned.to_machine]
                    ids += stale
                    pipe.multi()
                    pipe.hdel(key, *ids)
                    pipe.execute()  # WatchError if another process changed the map's queue meanwhile
                    return taken
                except redis.WatchError:
                    continue

    def stale(self, pipe, entries):
        """Ids of the entries whose process has not said it is alive for ALIVE_S seconds."""
        processes = sorted({w.process for w in entries.values() if w.process})
        if not processes:
            return []
        alive = pipe.mget([self.alive_key(p) for p in processes])
        dead = {p for p, flag in zip(processes, alive, strict=True) if flag is None}
        if dead:
            log.warning("ranked queue: dropping the entries of %d stopped process(es)", len(dead))
        return [k for k, w in entries.items() if w.process in dead]

    def size(self, slug):
        return self.client.hlen(self.key(slug))


def entries_by_id(entries):
    return lambda e: entries[e.id]


def _taken(planned, get):
    pairs = [(get(a), get(b)) for a, b in planned.pairs]
    return pairs, [get(e) for e in planned.to_machine]


_store = None
_store_lock = threading.Lock()


def store():
    """This process's queue: on Redis with REDIS_URL (the channel layer's prefix), else in memory."""
    global _store
    with _store_lock:
        if _store is None:
            if settings.REDIS_URL:
                prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
                _store = RedisQueue(settings.REDIS_URL, prefix)
            else:
                _store = MemoryQueue()
        return _store


# -- Ratings and duels -------------------------------------------------------------------------------


def player_rating(player, m):
    """The player's rating on map `m` now (the start rating if it has none)."""
    row = Rating.objects.filter(player=player, map=m, artefact="").first()
    return current(row).rating if row is not None else glicko2.START_RATING


def machine_candidates(m):
    """[(name, rating)] of every machine player that can play map `m` now: the rating of the
    artefact that would play."""
    out = []
    for name in machines.names():
        if machines.availability(name, m):
            continue
        row = Rating.objects.filter(
            player__kind=Player.MACHINE, player__machine_name=name, map=m, artefact=machines.artefact(name, m)
        ).first()
        out.append((name, current(row).rating if row is not None else glicko2.START_RATING))
    return out


def duel_for_pair(m, first, second):
    """A ranked duel of two waiting players (`first` waited longer: seat 0), both seated."""
    players = {p.id: p for p in Player.objects.filter(id__in=[first.player_id, second.player_id])}
    duel = duel_services.duel_create(
        player=players[first.player_id], map=m, opponent=duel_services.HUMAN, ranked=True
    )
    token = duel.seats.get(seat=1).invite_token
    duel_services.duel_join(token=token, player=players[second.player_id])
    return duel


def duel_for_machine(m, w):
    """A ranked duel of a waiting player against the machine player whose rating is closest."""
    candidates = machine_candidates(m)
    name = matchmaking.closest_machine(w.rating, candidates)
    if name is None:
        raise duel_services.DuelError(ERR_NO_MACHINE)
    player = Player.objects.get(id=w.player_id)
    duel = duel_services.duel_create(player=player, map=m, opponent=name, ranked=True)
    return duel, name, dict(candidates)[name]


def queue_tick(slug, now=None):
    """Take from map `slug`'s queue whoever can play now and make their duels. Returns
    [(channel, message fields)]: what to tell each player's socket (matched, or an error)."""
    now = time.time() if now is None else now
    store().alive()
    pairs, alone = store().take(slug, now, settings.GEOGAME_RANKED_QUEUE_MACHINE_S)
    if not pairs and not alone:
        return []
    m = Map.objects.get(slug=slug)
    out = []
    for a, b in pairs:
        try:
            duel = duel_for_pair(m, a, b)
        except duel_services.DuelError as exc:
            out += [(w.channel, {"error": exc.message}) for w in (a, b)]
            continue
        ids = [a.player_id, b.player_id]
        names = dict(Player.objects.filter(id__in=ids).values_list("id", "display_name"))
        for me, other in ((a, b), (b, a)):
            opponent = {"kind": "human", "name": names[other.player_id], "rating": round(other.rating)}
            out.append((me.channel, _matched(duel, opponent, now - me.joined_at)))
    for w in alone:
        try:
            duel, name, rating = duel_for_machine(m, w)
        except duel_services.DuelError as exc:
            out.append((w.channel, {"error": exc.message}))
            continue
        opponent = {"kind": "machine", "name": machines.title(name), "rating": round(rating)}
        out.append((w.channel, _matched(duel, opponent, now - w.joined_at)))
    return out


def _matched(duel, opponent, waited_s):
    return {
        "duel": str(duel.public_id),
        "url": f"/duels/{duel.public_id}/",
        "opponent": opponent,
        "waited_s": round(waited_s, 2),
    }
