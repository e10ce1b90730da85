"""Round rules: location order, think times and deadlines. Pure; no Django. (A map's splits:
geogame.maps.rules.)"""

import hashlib
import random
from datetime import timedelta


def stable_seed(*parts):
    """A 64-bit seed from any parts, the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def substitute_location(candidate_ids, seed, index):
    """The location that replaces round `index`'s planned one when that became reserved: drawn from
    `candidate_ids` (the game's pool less what is reserved or already in the game) by the game's
    seed and the round, so every request that starts the round picks the same one. None if empty."""
    ids = sorted(set(candidate_ids))
    return random.Random(stable_seed(seed, "substitute", index)).choice(ids) if ids else None


def machine_think_s(seed, human_times_s, *, min_s, max_s, min_samples=20, fixed_s=None, limit_s=None):
    """How long a machine "thinks" in one round, in seconds, drawn by `seed` (one per round and
    player, so a redelivered task draws the same). With at least `min_samples` human answer times
    on the map, one of them; else uniform in [min_s, max_s]. `fixed_s` (a deprecated setting)
    replaces the draw. Never longer than the round's clock `limit_s`."""
    if fixed_s is not None:
        think = float(fixed_s)
    else:
        if not 0 <= min_s <= max_s:
            raise ValueError(f"think time bounds must satisfy 0 <= min <= max, got {min_s}, {max_s}")
        rng = random.Random(seed)
        times = sorted(float(t) for t in human_times_s if t is not None and t >= 0)
        think = rng.choice(times) if len(times) >= max(1, min_samples) else rng.uniform(min_s, max_s)
    think = max(0.0, think)
    return min(think, float(limit_s)) if limit_s else think


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
