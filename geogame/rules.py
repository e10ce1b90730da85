"""Round rules: splits, location order and deadlines. Pure; no Django."""

import hashlib
import random
from datetime import timedelta

# A map's locations fall in four splits, in this order along the hash (assign_split): learned players
# train on `train` and early-stop on `val`; studies draw from `test`; machine games draw from `test`
# and `play` (never a location a machine trained on). Human-only games use every split.
SPLIT_ORDER = ("train", "val", "test", "play")
# New maps. On the 65-location demo pack: 40 train / 9 val / 9 test / 7 play (see README, "Splits").
DEFAULT_SPLIT_FRACTIONS = {"train": 0.60, "val": 0.15, "test": 0.10, "play": 0.15}
# Maps imported before the play split existed keep these until `manage.py resplit`.
LEGACY_SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15, "play": 0.0}


def split_fractions(fractions):
    """((name, fraction), ...) in SPLIT_ORDER from a {name: fraction} mapping, checked: known names,
    fractions in [0, 1] summing to 1. The order is fixed here, never taken from the mapping (a
    PostgreSQL jsonb object does not keep its keys' order), so a location's split is stable."""
    if not isinstance(fractions, dict) or not fractions:
        raise ValueError("split fractions must map split names to fractions")
    unknown = sorted(set(fractions) - set(SPLIT_ORDER))
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; splits are {', '.join(SPLIT_ORDER)}")
    out = []
    for name in SPLIT_ORDER:
        f = fractions.get(name, 0.0)
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f <= 1.0:
            raise ValueError(f"the {name} fraction must be a number from 0 to 1, got {f!r}")
        out.append((name, float(f)))
    total = sum(f for _, f in out)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must add up to 1, not {total:g}")
    return tuple(out)


def parse_split_fractions(text):
    """{name: fraction} from "train=0.6,val=0.15,test=0.1,play=0.15" (unnamed splits get 0), checked."""
    fractions = {}
    for part in str(text or "").split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip().lower()
        try:
            if not sep or not name:
                raise ValueError
            fraction = float(value)
        except ValueError:
            raise ValueError(
                f"write splits as name=fraction pairs, e.g. train=0.6,val=0.15; not {part!r}"
            ) from None
        if name in fractions:
            raise ValueError(f"split {name!r} is named twice")
        fractions[name] = fraction
    return dict(split_fractions(fractions))


SPLIT_FRACTIONS = split_fractions(DEFAULT_SPLIT_FRACTIONS)


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
