"""Reads for the leaderboards: the first rows of PlayerBest's index, one row a player."""

from django.utils import timezone

from . import rules
from .models import PlayerBest

BOARD_ROWS = 50
PERIODS = {"all": "All time", "week": "This week"}


def board(m, mode, *, is_machine, period="all", now=None, limit=BOARD_ROWS):
    """Each player's best game on `m` in `mode` (machines or humans apart), best first, ties by
    the shorter total time; `period` "week": since Monday 00:00 UTC."""
    key = rules.ALL_TIME if period == "all" else rules.week_period(now or timezone.now())
    rows = list(
        PlayerBest.objects.filter(map=m, mode=mode, period=key, is_machine=is_machine)
        .order_by("-total_points", "total_time_s", "id")
        .values("player_id", "player__display_name", "total_points", "total_time_s", "result__finished_at")[
            :limit
        ]
    )
    return rules.ranked(rows)
