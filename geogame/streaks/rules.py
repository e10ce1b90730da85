"""Country streak rules. Pure; no Django."""

import math

MAX_STREAK = 50  # right answers in a row that end a streak as complete (a map with fewer places: all)
MIN_PLACES = 3  # a map with fewer places with a country has no streak mode
ROUND_TIME_S = 120  # per round; past it the round is a wrong answer (a timeout)
MAX_QUERY_CHARS = 60

ERR_UNKNOWN_CODE = "'country' must be the two-letter code of a country on the map (ISO 3166-1 alpha-2)"
ERR_NEED_ANSWER = "send 'country' (a two-letter code) or 'lat' and 'lon' (a point in a country)"
ERR_BOTH = "send 'country' or a point, not both"
ERR_BAD_POINT = "'lat' and 'lon' must be finite numbers: latitude -90..90, longitude -180..180"
ERR_NO_COUNTRY_THERE = "no country at that point: click inside a country"
ERR_ANSWERED = "this round is answered already"
ERR_ENDED = "the streak is over"
ERR_NOT_CURRENT = "no such round in this streak"
ERR_TOO_FEW = "the map has {have} places with a country; a streak needs {need}"


def max_length(pool_size):
    return min(MAX_STREAK, pool_size)


def parse_point(lat, lon):
    """(lat, lon) as floats, or ValueError(ERR_BAD_POINT)."""
    try:
        if isinstance(lat, bool) or isinstance(lon, bool):
            raise TypeError
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValueError(ERR_BAD_POINT) from None
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise ValueError(ERR_BAD_POINT)
    return lat, lon


def parse_code(code, known):
    """The upper-case code when it is one of `known`, else ValueError(ERR_UNKNOWN_CODE)."""
    if not isinstance(code, str) or len(code) != 2:
        raise ValueError(ERR_UNKNOWN_CODE)
    code = code.upper()
    if code not in known:
        raise ValueError(ERR_UNKNOWN_CODE)
    return code


def ranked(rows):
    """`rows` (best first, dicts with `best`) with their 1-based `rank`; equal streaks share one."""
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        if row["best"] != previous:
            rank, previous = position, row["best"]
        row["rank"] = rank
    return rows
