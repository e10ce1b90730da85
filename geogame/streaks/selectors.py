"""Reads for country streaks: a streak's state as its player sees it, and the leaderboard."""

from django.db.models import Max
from django.urls import reverse

from geogame.game.selectors import round_view_count
from geogame.maps import countries

from . import rules
from .models import Streak

BOARD_ROWS = 50


def round_public(rnd):
    """What a player sees of a round before answering: opaque image URLs and the clock. Nothing
    here may reveal the country (tests/test_streaks.py)."""
    return {
        "index": rnd.index,
        "number": rnd.index + 1,
        "views": [
            {
                "url": reverse("streak-image", args=[rnd.image_key, i]),
                "thumb": reverse("streak-thumb", args=[rnd.image_key, i]),
            }
            for i in range(round_view_count(rnd))
        ],
        "deadline": rnd.deadline.isoformat() if rnd.deadline else None,
        "guess_url": reverse("api-streak-guess", args=[rnd.streak.public_id, rnd.index]),
    }


def round_revealed(rnd):
    """An answered round: the place, its country and the player's answer."""
    loc = rnd.location
    return {
        "number": rnd.index + 1,
        "correct": bool(rnd.correct),
        "timed_out": rnd.correct is False and not rnd.guess_code,
        "answer": {"code": loc.country_code, "name": countries.country_name(loc.country_code)},
        "guess": {"code": rnd.guess_code, "name": countries.country_name(rnd.guess_code)}
        if rnd.guess_code
        else None,
        "lat": loc.lat,
        "lon": loc.lon,
        "city": loc.city,
        "license": loc.license,
        "attribution": loc.attribution,
    }


def streak_state(streak, current):
    last = streak.rounds.exclude(correct=None).select_related("location").order_by("-index").first()
    return {
        "status": streak.status,
        "end_reason": streak.end_reason,
        "length": streak.length,
        "max_length": streak.max_length,
        "round": round_public(current) if current is not None else None,
        "last": round_revealed(last) if last is not None else None,
        "board_url": reverse("streak-board", args=[streak.map.slug]),
    }


def board(m, *, is_machine, limit=BOARD_ROWS):
    """Each player's longest ended streak on `m` (machines or people apart), longest first; ties
    by name."""
    rows = list(
        Streak.objects.filter(map=m, is_machine=is_machine, status=Streak.ENDED)
        .values("player_id", "player__display_name")
        .annotate(best=Max("length"))
        .filter(best__gt=0)
        .order_by("-best", "player__display_name", "player_id")[:limit]
    )
    return rules.ranked(rows)


def streak_maps(maps):
    """The maps of `maps` with enough places with a country for a streak."""
    from django.db.models import Count, Q

    counted = maps.annotate(coded=Count("locations", filter=~Q(locations__country_code="")))
    return [m for m in counted if m.coded >= rules.MIN_PLACES]
