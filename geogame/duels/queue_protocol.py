"""The ranked queue's WebSocket protocol, /ws/ranked/queue/<map slug>/ (a ranked duel's map).

Connecting is joining: an account waits for an opponent on that map until it is matched, sends
`leave`, or its socket closes (leaving the queue). Every message is a JSON object with a `type`.

Client -> server
  leave    {"type": "leave"}                 -> `left`, and the socket closes (1000)

Server -> client
  queued   {map, rating, window, machine_after_s}: waiting; `window` is the rating distance accepted
           now (it widens with the wait), `machine_after_s` when a machine player is offered instead
  matched  {duel, url, opponent: {kind: human|machine, name, rating}, waited_s}: a ranked duel is made
           and both seats taken; go to `url`. The socket then closes (1000).
  left     {}: out of the queue
  error    {reason}: a sentence to show. Before the socket closes for a reason (close codes below),
           the error says why; a refused message changes nothing and the socket stays open.

Close codes: 4401 no account (log in), 4404 no such map, 4409 already waiting on this map (another
socket), 4429 too many messages or joins, 4500 the duel could not be made (the error says why).
"""

import json

from geogame.common import json_input

MAX_MESSAGE_CHARS = 200
CLOSE_NO_ACCOUNT = 4401
CLOSE_NO_MAP = 4404
CLOSE_TWICE = 4409
CLOSE_NO_DUEL = 4500
REPLIES = ("queued", "matched", "left", "error")

ERR_NO_ACCOUNT = "log in to play ranked: ratings are kept for accounts"
ERR_NO_MAP = "no such map: choose one of the maps in the duel lobby"
ERR_TWICE = "you are already waiting for a ranked opponent on this map (in another tab); this one is closed"
ERR_BINARY = "binary frames are not supported; send JSON text"
ERR_TOO_LONG = f"a message may be at most {MAX_MESSAGE_CHARS} characters"
ERR_NOT_JSON = "the message is not valid JSON"
ERR_NOT_OBJECT = "a message must be a JSON object with a string 'type'"
ERR_UNKNOWN_TYPE = "unknown message type {type!r}: the queue takes only 'leave'"
ERR_UNEXPECTED = "a 'leave' message has no fields; got {field!r}"
ERR_TOO_MANY_JOINS = (
    "too many joins of the ranked queue from this address or browser; try again in {seconds} s"
)
ERR_RATE_LIMITED = "rate_limited: too many messages on this socket; wait a few seconds before the next"


class ProtocolError(ValueError):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def parse(text):
    """A client's frame: "leave", or ProtocolError with the reason."""
    if text is None:
        raise ProtocolError(ERR_BINARY)
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(ERR_TOO_LONG)
    try:
        msg = json_input.loads(text)
    except json_input.JsonInputError as exc:
        raise ProtocolError(ERR_NOT_JSON if exc.reason == json_input.ERR_NOT_JSON else exc.reason) from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError(ERR_NOT_OBJECT)
    if msg["type"] != "leave":
        raise ProtocolError(ERR_UNKNOWN_TYPE.format(type=msg["type"][:40]))
    for field in msg:
        if field != "type":
            raise ProtocolError(ERR_UNEXPECTED.format(field=field[:40]))
    return "leave"


def message(kind, **fields):
    if kind not in REPLIES:
        raise ValueError(f"not a queue message type: {kind!r}")
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))
