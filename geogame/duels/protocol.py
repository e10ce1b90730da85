"""The duel's WebSocket protocol, in one place: what a client may send, what the server sends.

Every message is a JSON object with a `type`.

Client -> server
  guess   {"type": "guess", "round": 0, "lat": 48.1, "lon": 11.5, "views_seen": [0, 1], "duel": "<id>"?}
  sync    {"type": "sync"}                       -> the full `state` again

Server -> client. Every message carries `version`, the duel's event count, and `at`, the
server's clock (Unix seconds). Broadcast events raise `version` by exactly one; a client
that sees a gap sends `sync`. Replies to one client (state, guess_ack, error) carry the
version they were made at and change nothing.
  state             the whole duel as this client may see it (geogame.duels.selectors.duel_state)
  seat_joined       {seat, name, next_round_at}
  round_started     {round: {index, number, views: [{url, thumb}], started_at, deadline}, multiplier}
  opponent_guessed  {round, seat, deadline}: who guessed and the (maybe shortened) clock; never where
  round_result      {round, number, multiplier, answer, guesses: [{seat, lat, lon, distance_km,
                     points, timed_out}], damage: [to side 0, to side 1], health, next_round_at}
  duel_over         {winner (a side, or null for a draw), reason, health}
  guess_ack         {round, created}: created is false for a guess already counted
  error             {reason}: a sentence to show. A client that sends more than
                    GEOGAME_DUEL_MESSAGE_RATE allows gets ERR_RATE_LIMITED (it starts with
                    "rate_limited") and, if it goes on, the socket is closed with code 4429.

A message this file refuses never closes the socket: it gets an `error` with the reason.
"""

import json
from dataclasses import dataclass

from geogame.common import geo, json_input

MAX_MESSAGE_CHARS = 2000
MAX_VIEWS_SEEN = 32

# Broadcast to every seat, in version order.
EVENTS = ("seat_joined", "round_started", "opponent_guessed", "round_result", "duel_over")
# Sent to one client.
REPLIES = ("state", "guess_ack", "error")

ERR_BINARY = "binary frames are not supported; send JSON text"
ERR_TOO_LONG = f"a message may be at most {MAX_MESSAGE_CHARS} characters"
ERR_NOT_JSON = "the message is not valid JSON"
ERR_NOT_OBJECT = "a message must be a JSON object"
ERR_NO_TYPE = "a message needs a string 'type'"
ERR_UNKNOWN_TYPE = "unknown message type {type!r}; expected one of: guess, sync"
ERR_UNEXPECTED = "unexpected field {field!r} in a {type!r} message"
ERR_MISSING = "a {type!r} message needs {field!r}"
ERR_ROUND = "'round' must be a round index: a whole number from 0"
# Coordinates are checked as every guess's are (geogame.common.geo.check_latlon), with its words.
ERR_NUMBER = geo.ERR_NOT_NUMBERS
ERR_NOT_FINITE = geo.ERR_NOT_FINITE
ERR_LAT_RANGE = geo.ERR_LAT_RANGE
ERR_LON_RANGE = geo.ERR_LON_RANGE
ERR_TOO_DEEP = json_input.ERR_TOO_DEEP
ERR_BIG_INT = json_input.ERR_BIG_INT
ERR_VIEWS = f"'views_seen' must be a list of at most {MAX_VIEWS_SEEN} view numbers"
ERR_DUEL_ID = "'duel' must be the id of a duel as a string"
ERR_TOO_MANY = "too many guesses: try again in {seconds} s"
ERR_RATE_LIMITED = "rate_limited: too many messages on this socket; wait a few seconds before the next"


class ProtocolError(ValueError):
    """A message the protocol refuses; `reason` goes back to the client as is."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Guess:
    round: int
    lat: float
    lon: float
    views_seen: tuple[int, ...] = ()
    duel: str | None = None  # optional: a guess naming another duel is refused


@dataclass(frozen=True)
class Sync:
    pass


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _only(msg, allowed):
    for field in msg:
        if field not in allowed:
            raise ProtocolError(ERR_UNEXPECTED.format(field=field, type=msg["type"]))


def _guess(msg):
    _only(msg, {"type", "round", "lat", "lon", "views_seen", "duel"})
    if "round" not in msg:
        raise ProtocolError(ERR_MISSING.format(type="guess", field="round"))
    if not _whole(msg["round"]) or msg["round"] < 0:
        raise ProtocolError(ERR_ROUND)
    for field in ("lat", "lon"):
        if msg.get(field) is None:
            raise ProtocolError(ERR_MISSING.format(type="guess", field=field))
    try:
        lat, lon = geo.check_latlon(msg["lat"], msg["lon"], numbers_only=True)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    views = msg.get("views_seen", [])
    if not isinstance(views, list) or len(views) > MAX_VIEWS_SEEN:
        raise ProtocolError(ERR_VIEWS)
    if not all(_whole(v) and v >= 0 for v in views):
        raise ProtocolError(ERR_VIEWS)
    duel = msg.get("duel")
    if duel is not None and not isinstance(duel, str):
        raise ProtocolError(ERR_DUEL_ID)
    return Guess(round=msg["round"], lat=lat, lon=lon, views_seen=tuple(views), duel=duel)


def _sync(msg):
    _only(msg, {"type", "version"})  # a client may say which version it has; the reply is the same
    return Sync()


PARSERS = {"guess": _guess, "sync": _sync}


def parse(text):
    """A client's text frame as a Guess or a Sync; ProtocolError with the reason otherwise."""
    if text is None:
        raise ProtocolError(ERR_BINARY)
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(ERR_TOO_LONG)
    try:
        # NaN and Infinity are not JSON; refused here rather than as numbers later.
        msg = json_input.loads(text)
    except json_input.JsonInputError as exc:
        raise ProtocolError(ERR_NOT_JSON if exc.reason == json_input.ERR_NOT_JSON else exc.reason) from None
    if not isinstance(msg, dict):
        raise ProtocolError(ERR_NOT_OBJECT)
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ERR_NO_TYPE)
    if kind not in PARSERS:
        raise ProtocolError(ERR_UNKNOWN_TYPE.format(type=kind[:40]))
    return PARSERS[kind](msg)


def message(kind, *, version, at, **fields):
    """A server message as JSON text."""
    if kind not in EVENTS and kind not in REPLIES:
        raise ValueError(f"not a server message type: {kind!r}")
    return json.dumps({"type": kind, "version": version, "at": at, **fields}, separators=(",", ":"))
