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
