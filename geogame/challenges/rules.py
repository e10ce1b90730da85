"""The challenges' rules. Pure; no Django."""

from geogame.game.rules import choose_locations, stable_seed

DAILY_ROUNDS = 5


def daily_locations(pool_ids, map_key, day):
    """The daily's places on map `map_key` (its slug) for UTC date `day`: DAILY_ROUNDS of
    `pool_ids`, drawn by map and date, so every process that draws them draws the same.
    ValueError when the pool is too small."""
    return choose_locations(pool_ids, DAILY_ROUNDS, stable_seed("daily", map_key, day.isoformat()))


def rank_key(row):
    """Ranking order: finished rounds first, then the higher total, then the shorter total time."""
    return (-row["finished"], -row["total"], row["time_s"])


def ranked(rows):
    """`rows` (dicts with finished, total, time_s) sorted by rank_key, each with its `rank`
    (1-based; equal keys share a rank)."""
    out = sorted(rows, key=rank_key)
    previous, rank = None, 0
    for position, row in enumerate(out, start=1):
        key = rank_key(row)
        if key != previous:
            rank, previous = position, key
        row["rank"] = rank
    return out
