"""The challenges' rules. Pure; no Django."""

from geogame.game.rules import choose_locations, stable_seed

DAILY_ROUNDS = 5
# A daily holds its places from every other game that day, so a map gets one only where that leaves
# plenty: its pool (the held-out places no machine learned from, less those held by duels and
# studies) must hold three dailies' worth. The daily then takes at most a third of the places a
# machine game can draw from, and two machine games' worth stay free. The suite's small fixture maps
# (10 held-out places) have none; the 65-location demo pack (16) has one.
DAILY_MIN_POOL = 3 * DAILY_ROUNDS


def has_daily(pool_size):
    """Whether a map whose daily pool holds `pool_size` places gets a daily."""
    return pool_size >= DAILY_MIN_POOL


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
