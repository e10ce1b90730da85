"""Reads for challenge pages and dailies: rankings, pins shown after finishing, reservations."""

from datetime import UTC, timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from geogame.game.models import Guess

from . import rules
from .models import Challenge, DailyAttempt, DailyChallenge


def utc_day(now=None):
    """The UTC date at `now` (default: now): a daily's day."""
    return (now or timezone.now()).astimezone(UTC).date()


def is_daily_game(game):
    """Whether `game` is an attempt at a daily (it may play the daily's places)."""
    return game is not None and game.pk is not None and DailyAttempt.objects.filter(game=game).exists()


# A challenge's or a daily's game keeps its planned places (geogame.game.hooks: fixed_order).
PLANNED_ORDER_GAMES = Q(challenge_entry__isnull=False) | Q(daily_attempt__isnull=False)


def _game_totals(game_ids):
    """{game_id: {"total", "time_s", "finished"}} over each game's own player's guesses."""
    rows = (
        Guess.objects.filter(round__game_id__in=game_ids, player_id=F("round__game__player_id"))
        .values("round__game_id")
        .annotate(total=Sum("points"), time_s=Sum("time_taken_s"), finished=Count("id"))
    )
    return {r["round__game_id"]: r for r in rows}


def ranking(attempts):
    """Ranked rows for `attempts` (ChallengeEntry or DailyAttempt rows with game and player)."""
    attempts = list(attempts)
    totals = _game_totals([a.game_id for a in attempts])
    rows = []
    for a in attempts:
        t = totals.get(a.game_id, {})
        rows.append(
            {
                "attempt": a,
                "player": a.player,
                "name": a.player.display_name,
                "is_machine": a.player.kind == "machine",
                "has_account": a.player.user_id is not None,
                "total": t.get("total") or 0,
                "time_s": round(t.get("time_s") or 0.0, 1),
                "finished": t.get("finished") or 0,
                "rounds_total": a.game.rounds_total,
            }
        )
    return rules.ranked(rows)


def challenge_entries(challenge):
    return challenge.entries.select_related("player", "game")


def entry_of(challenge, player):
    if player is None:
        return None
    return challenge.entries.filter(player=player).select_related("game").first()


def game_finished(game):
    return Guess.objects.filter(round__game=game, player_id=game.player_id).count() >= game.rounds_total


def pins_by_round(game_ids, rounds_total):
    """[{number, answer, pins: [{name, lat, lon, points, is_machine}]}] for the games `game_ids`
    (one challenge's or daily's, all over the same places): what a player who finished sees."""
    guesses = (
        Guess.objects.filter(round__game_id__in=game_ids)
        .filter(player_id=F("round__game__player_id"))
        .select_related("round__location", "player")
    )
    rounds = {}
    for g in guesses:
        r = rounds.setdefault(
            g.round.index,
            {
                "number": g.round.index + 1,
                "answer": {
                    "lat": g.round.location.lat,
                    "lon": g.round.location.lon,
                    "city": g.round.location.city,
                    "country": g.round.location.country,
                },
                "pins": [],
            },
        )
        if g.lat is not None:
            r["pins"].append(
                {
                    "name": g.player.display_name,
                    "lat": g.lat,
                    "lon": g.lon,
                    "points": g.points,
                    "is_machine": g.player.kind == "machine",
                }
            )
    return [rounds[i] for i in sorted(rounds)]


def challenge_by_id(public_id):
    return Challenge.objects.select_related("map").filter(public_id=public_id).first()


def daily_attempt_of(daily, player, owner):
    """The attempt at `daily` of `owner` ("user:<id>", "session:<key>") or `player`; None."""
    q = Q(owner=owner) if owner else Q(pk__in=[])
    if player is not None:
        q |= Q(player=player)
    return daily.attempts.filter(q).select_related("game").first()


def daily_attempts(daily):
    return daily.attempts.select_related("player", "game")


def dailies_archive(today, days=60):
    """Past dailies (before `today`), newest first, with how many played each."""
    return (
        DailyChallenge.objects.filter(day__lt=today, day__gte=today - timedelta(days=days))
        .select_related("map")
        .annotate(humans=Count("attempts", filter=Q(attempts__is_machine=False)))
        .order_by("-day", "map__name")
    )


def daily_for(m, day):
    return DailyChallenge.objects.filter(map=m, day=day).first()


def daily_by(slug, day):
    return DailyChallenge.objects.select_related("map").filter(map__slug=slug, day=day).first()
