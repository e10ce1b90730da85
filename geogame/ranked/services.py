"""Ranked services: every write to a rating goes through here.

match_rate rates one finished game between two sides in one transaction:
1. insert the game's RatingEvent: its game is unique, so a second call for the same game (two
   workers finishing a duel at once, a redelivered task) finds it taken and rates nothing;
2. lock both sides' Rating rows (in id order, so two games of the same players cannot deadlock);
3. widen each deviation for the rating periods (GEOGAME_RANKED_PERIOD_S) since its last game;
4. rate each side against the other's rating as it was before the game (glicko2.rate: the game is
   a rating period of its own) and save both.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from geogame.common.errors import Refused

from . import glicko2
from .models import Rating, RatingEvent

RATED_FIELDS = ("rating", "deviation", "volatility", "games", "machine_games", "rated_at")
ERR_SAME_SIDE = "a rated game needs two different sides"
ERR_SCORE = "side 0's score is 1 (it won), 0.5 (a draw) or 0 (it lost), got {score!r}"


class RankedError(Refused):
    """A rating refused."""


@dataclass(frozen=True)
class Side:
    player: object  # players.models.Player
    artefact: str = ""  # a machine player's artefact (geogame.game.machines.artefact); "" for people


def rating_get(player, m, artefact=""):
    """The player's Rating row on map `m` (made at the start rating if it has none)."""
    row, _ = Rating.objects.get_or_create(player=player, map=m, artefact=artefact)
    return row


def _idle_periods(row, now):
    if row.rated_at is None:
        return 0.0
    return max(0.0, (now - row.rated_at).total_seconds() / settings.GEOGAME_RANKED_PERIOD_S)


def current(row, now=None):
    """The row's rating as of `now`: its deviation widened for the periods since its last game."""
    return glicko2.idle(row.as_glicko(), _idle_periods(row, now or timezone.now()))


def match_rate(*, game, sides, score, kind=RatingEvent.DUEL, now=None):
    """Rate `game` (finished) between `sides` (two Side), side 0 scoring `score` (1, 0.5 or 0).
    Returns its RatingEvent, or None when the game was rated already (nothing changes then)."""
    now = now or timezone.now()
    if score not in (glicko2.WIN, glicko2.DRAW, glicko2.LOSS):
        raise RankedError(ERR_SCORE.format(score=score))
    a, b = sides
    if a.player.id == b.player.id and a.artefact == b.artefact:
        raise RankedError(ERR_SAME_SIDE)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = RatingEvent.objects.create(game=game, kind=kind)
        except IntegrityError:
            return None  # rated already, by whoever finished it first
        ids = [rating_get(s.player, game.map, s.artefact).id for s in sides]
        locked = {r.id: r for r in Rating.objects.select_for_update().filter(id__in=ids).order_by("id")}
        rows = [locked[i] for i in ids]
        before = [current(r, now) for r in rows]
        scores = (float(score), 1.0 - float(score))
        tau, most = settings.GEOGAME_RANKED_TAU, glicko2.START_DEVIATION
        after = [
            glicko2.rate(before[i], [glicko2.Result(before[1 - i], scores[i])], tau=tau, max_deviation=most)
            for i in (0, 1)
        ]
        for row, new in zip(rows, after, strict=True):
            row.rating, row.deviation, row.volatility = new.rating, new.deviation, new.volatility
            row.games += 1
            row.machine_games += kind == RatingEvent.CALIBRATION
            row.rated_at = now
            row.save(update_fields=[*RATED_FIELDS])
        event.sides = [
            {
                "rating": row.id,
                "score": scores[i],
                "before": [round(before[i].rating, 2), round(before[i].deviation, 2)],
                "after": [round(after[i].rating, 2), round(after[i].deviation, 2)],
            }
            for i, row in enumerate(rows)
        ]
        event.save(update_fields=["sides"])
    return event
