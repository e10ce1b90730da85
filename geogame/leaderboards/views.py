"""Leaderboard pages: parse the map, mode and period, read, render."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from geogame.game.models import Game
from geogame.maps.models import Map
from players.sessions import player_for_request

from . import selectors


@require_GET
def leaderboards(request, slug=None):
    maps = list(Map.objects.order_by("name"))
    m = next((x for x in maps if x.slug == slug), None) if slug else (maps[0] if maps else None)
    mode = request.GET.get("mode") or Game.COORDINATES
    period = request.GET.get("period") or "all"
    error = None
    if slug and m is None:
        error, status = "no such map", 404
    elif mode not in dict(Game.MODE_CHOICES):
        error, status = "mode must be one of: " + ", ".join(dict(Game.MODE_CHOICES)), 400
    elif period not in selectors.PERIODS:
        error, status = "period must be all or week", 400
    if error:
        return render(
            request, "leaderboards/leaderboards.html", {"error": error, "maps": maps}, status=status
        )
    context = {
        "maps": maps,
        "map": m,
        "mode": mode,
        "period": period,
        "modes": Game.MODE_CHOICES,
        "periods": selectors.PERIODS.items(),
        "viewer": player_for_request(request),
    }
    if m is not None:
        context["humans"] = selectors.board(m, mode, is_machine=False, period=period)
        context["machines"] = selectors.board(m, mode, is_machine=True, period=period)
    return render(request, "leaderboards/leaderboards.html", context)
