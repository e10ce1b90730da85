"""Round rules: splits, location order and deadlines. Pure; no Django."""

import hashlib
import random
from datetime import timedelta

SPLIT_FRACTIONS = (("train", 0.70), ("val", 0.15), ("test", 0.15))


def assign_split(group_key, seed, fractions=SPLIT_FRACTIONS):
    """Deterministic split for a group of images (one location).

    Hashing the key, rather than shuffling the whole list, keeps every existing
    location in its split when rows are added later, and all views of one
    location share the key, so they never straddle splits.
    """
    digest = hashlib.sha256(f"{seed}:{group_key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, fraction in fractions:
        acc += fraction
        if u < acc:
            return name
    return fractions[-1][0]


def choose_locations(location_ids, count, seed):
    """`count` distinct location ids in a seeded random order."""
    ids = sorted(location_ids)
    if len(ids) < count:
        raise ValueError(f"the map has {len(ids)} locations; a game needs {count}")
    return random.Random(seed).sample(ids, count)


def deadline_for(started_at, time_limit_s):
    return None if not time_limit_s else started_at + timedelta(seconds=time_limit_s)


def is_past_deadline(deadline, now, grace_s=0.0):
    return deadline is not None and now > deadline + timedelta(seconds=grace_s)


MAX_VIEW_MS = 24 * 3600 * 1000
MAX_SCREEN_PX = 20_000


def check_view_ms(view_ms, view_count):
    """The client's time on each view, in ms, as a list of `view_count` whole numbers."""
    if view_ms is None:
        return []
    if not isinstance(view_ms, list) or len(view_ms) != view_count:
        raise ValueError(f"'view_ms' must list the milliseconds spent on each of the {view_count} views")
    for v in view_ms:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_VIEW_MS:
            raise ValueError("'view_ms' must hold whole numbers of milliseconds, none negative")
    return view_ms


def check_screen(screen):
    """(width, height) of the browser window from {"w": int, "h": int}, or (None, None)."""
    if screen is None:
        return None, None
    if not isinstance(screen, dict):
        raise ValueError('\'screen\' must be an object {"w": width, "h": height}')
    out = []
    for key in ("w", "h"):
        v = screen.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SCREEN_PX:
            raise ValueError(f"'screen.{key}' must be a whole number of pixels between 1 and {MAX_SCREEN_PX}")
        out.append(v)
    return tuple(out)
