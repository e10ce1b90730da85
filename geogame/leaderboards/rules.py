"""Leaderboard rules. Pure; no Django."""

from datetime import timedelta

ALL_TIME = "all"


def week_period(when):
    """The weekly period `when` falls in: "week:" and the date of its Monday (UTC on this site)."""
    return "week:" + (when.date() - timedelta(days=when.weekday())).isoformat()


def is_better(points, time_s, best_points, best_time_s):
    """Whether a total beats the best so far: more points, or as many in less time."""
    return points > best_points or (points == best_points and time_s < best_time_s)


def ranked(rows):
    """`rows` (best first, dicts with total_points and total_time_s) with their 1-based `rank`;
    equal points and time share a rank."""
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        key = (row["total_points"], row["total_time_s"])
        if key != previous:
            rank, previous = position, key
        row["rank"] = rank
    return rows
