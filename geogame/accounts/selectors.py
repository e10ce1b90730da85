"""Reads for the history (/me/) and the replay of one game."""

from django.db.models import Count, F, Q, Sum
from django.urls import reverse

from geogame.game.models import Game, Guess
from geogame.maps.models import View

HISTORY_PAGE = 50


def own_games(player):
    """The games `player` played through the game pages (not a duel's or a study participant's)."""
    return Game.objects.filter(player=player, duel__isnull=True, participant__isnull=True)


def history_page(player, page=1):
    """(rows, has_next): `player`'s games, newest first, HISTORY_PAGE a page, each with its map,
    mode, opponent, total, rounds finished and date."""
    own = Q(rounds__guesses__player_id=F("player_id"))
    start = (page - 1) * HISTORY_PAGE
    games = list(
        own_games(player)
        .select_related("map", "opponent")
        .annotate(
            total=Sum("rounds__guesses__points", filter=own), finished=Count("rounds__guesses", filter=own)
        )
        .order_by("-created_at", "-id")[start : start + HISTORY_PAGE + 1]
    )
    return games[:HISTORY_PAGE], len(games) > HISTORY_PAGE


def _pin(guess):
    if guess is None or guess.lat is None:
        return None
    return {"lat": guess.lat, "lon": guess.lon, "city": guess.city or None}


def replay_rounds(game):
    """Each round of `game` as the replay shows it: its photos, the player's pin and, only for a
    round the player finished (guessed or timed out), the answer and the machine's pin."""
    rounds = list(game.rounds.select_related("location").order_by("index"))
    guesses = {}
    for g in Guess.objects.filter(round__game=game):
        guesses[(g.round_id, g.player_id)] = g
    view_counts = dict(
        View.objects.filter(location_id__in=[r.location_id for r in rounds])
        .values("location_id")
        .annotate(n=Count("id"))
        .values_list("location_id", "n")
    )
    out = []
    for r in rounds:
        own = guesses.get((r.id, game.player_id))
        finished = own is not None
        machine = guesses.get((r.id, game.opponent_id)) if game.opponent_id and finished else None
        loc = r.location
        out.append(
            {
                "number": r.index + 1,
                "views": [
                    reverse("view-image", args=[r.image_key, i])
                    for i in range(view_counts.get(r.location_id, 0))
                ],
                "finished": finished,
                "points": own.points if finished else None,
                "timed_out": own.timed_out if finished else False,
                "distance_km": own.distance_km if finished else None,
                "pin": _pin(own),
                "answer": {"lat": loc.lat, "lon": loc.lon, "city": loc.city, "country": loc.country}
                if finished
                else None,
                "machine": {
                    "name": game.opponent.display_name,
                    "pin": _pin(machine),
                    "points": machine.points,
                }
                if machine is not None
                else None,
            }
        )
    return out
