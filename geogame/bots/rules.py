"""The bot API's rules: names, tokens, answer deadlines and what a guess may carry. Pure; no Django."""

import hashlib
import math
import re
import secrets
from datetime import timedelta

from geogame.common.geo import check_latlon

NAME_PREFIX = "bot:"  # a bot's machine-player name is NAME_PREFIX + its name
TOKEN_PREFIX = "ggb_"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
TOP_K_MAX = 20
GRID_ROWS_MAX, GRID_COLS_MAX, GRID_CELLS_MAX = 180, 360, 4096

ERR_NAME = (
    "a bot's name is 2 to 32 characters: lower-case letters, digits and '-', starting with a letter or digit"
)
ERR_TOP_K = (
    f'\'top_k\' must be a list of at most {TOP_K_MAX} objects {{"lat", "lon", "p"}} with p between 0 and 1'
)
ERR_GRID = (
    '\'grid\' must be {"rows": R, "cols": C, "p": [R*C numbers >= 0, not all 0]}, row 0 at latitude 90, '
    f"column 0 at longitude -180, R <= {GRID_ROWS_MAX}, C <= {GRID_COLS_MAX}, R*C <= {GRID_CELLS_MAX}"
)


def check_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(ERR_NAME)
    return name


def new_token():
    """A fresh token: 256 random bits, prefixed so it is recognisable in a leaked file."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token):
    """SHA-256 of the token, hex. Tokens are random (not passwords), so a fast hash is enough."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def answer_deadline(started_at, deadline, untimed_s):
    """When a bot's answer is due: the round's deadline (the people's), or, in a round without a
    timer, `untimed_s` after it started."""
    return deadline if deadline is not None else started_at + timedelta(seconds=untimed_s)


def is_late(due, now, grace_s):
    return now > due + timedelta(seconds=grace_s)


def misses_in_a_row(timed_out_newest_first):
    """How many of a bot's latest answers, newest first, were missed deadlines, up to its first answer."""
    count = 0
    for timed_out in timed_out_newest_first:
        if not timed_out:
            break
        count += 1
    return count


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return float(value)


def check_top_k(value):
    """[[lat, lon, p], ...] from the bot's list, or ValueError. None stays None."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= TOP_K_MAX:
        raise ValueError(ERR_TOP_K)
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError(ERR_TOP_K)
        try:
            lat, lon = check_latlon(item.get("lat"), item.get("lon"), numbers_only=True)
        except ValueError as exc:
            raise ValueError(f"'top_k': {exc}") from None
        try:
            p = _number(item.get("p", 0.0))
        except ValueError:
            raise ValueError(ERR_TOP_K) from None
        if not 0.0 <= p <= 1.0:
            raise ValueError(ERR_TOP_K)
        out.append([lat, lon, p])
    return out


def check_grid(value):
    """{"rows", "cols", "p"} with p normalised to sum 1, or ValueError. None stays None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"rows", "cols", "p"}:
        raise ValueError(ERR_GRID)
    rows, cols, p = value.get("rows"), value.get("cols"), value.get("p")
    for n, most in ((rows, GRID_ROWS_MAX), (cols, GRID_COLS_MAX)):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= most:
            raise ValueError(ERR_GRID)
    if rows * cols > GRID_CELLS_MAX or not isinstance(p, list) or len(p) != rows * cols:
        raise ValueError(ERR_GRID)
    try:
        cells = [_number(x) for x in p]
    except ValueError:
        raise ValueError(ERR_GRID) from None
    total = sum(cells)
    if min(cells) < 0 or total <= 0:
        raise ValueError(ERR_GRID)
    return {"rows": rows, "cols": cols, "p": [x / total for x in cells]}
