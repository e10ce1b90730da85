"""Reads for ratings: what the player's page, the machines page and the benchmark report show."""

from django.utils import timezone

from players.models import Player

from .models import Rating
from .services import current


def _shown(row, now):
    r = current(row, now)
    return {
        "map": row.map,
        "artefact": row.artefact,
        "rating": round(r.rating),
        "deviation": round(r.deviation),
        "games": row.games,
        "machine_games": row.machine_games,
        "player": row.player,
    }


def player_ratings(player, now=None):
    """The player's ratings, one per map (and artefact), best first."""
    if player is None:
        return []
    now = now or timezone.now()
    rows = Rating.objects.filter(player=player).select_related("map", "player").order_by("-rating")
    return [_shown(row, now) for row in rows]


def machine_rating(machine_name, m, artefact="", now=None):
    """The rating on map `m` of machine player `machine_name`'s `artefact`, or None if unrated."""
    row = (
        Rating.objects.filter(
            player__kind=Player.MACHINE, player__machine_name=machine_name, map=m, artefact=artefact
        )
        .select_related("map", "player")
        .first()
    )
    return None if row is None else _shown(row, now or timezone.now())


def machine_ratings(now=None, m=None):
    """Every machine player's ratings: {machine_name: [rating, ...]}, each list best first."""
    now = now or timezone.now()
    rows = Rating.objects.filter(player__kind=Player.MACHINE).select_related("map", "player")
    if m is not None:
        rows = rows.filter(map=m)
    out = {}
    for row in rows.order_by("map__name", "-rating"):
        out.setdefault(row.player.machine_name, []).append(_shown(row, now))
    return out
