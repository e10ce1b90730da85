"""The materialised totals: one GameResult per finished (game, player), and each player's best
per map, mode and period (PlayerBest), updated as each result is written."""

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from geogame.game.models import Game, Guess

from . import rules
from .models import GameResult, PlayerBest


def result_record(*, game, player, now=None):
    """Write `player`'s result in `game` if all its rounds are in and none is written yet, and
    raise the player's bests it beats."""
    if player.id not in (game.player_id, game.opponent_id):
        return None
    # Duels (their own rules and clock), study games (fixed places, answers kept apart) and rated
    # games (machine calibration, geogame.ranked: its rating event commits with its last guess) rank
    # nowhere here; by relation name, as the duel and study apps are not imported.
    if not Game.objects.filter(
        id=game.id, duel__isnull=True, participant__isnull=True, rating_event__isnull=True
    ).exists():
        return None
    totals = Guess.objects.filter(round__game=game, player=player).aggregate(
        n=Count("id"), points=Sum("points"), time_s=Sum("time_taken_s")
    )
    if totals["n"] < game.rounds_total:
        return None
    now = now or timezone.now()
    try:
        with transaction.atomic():
            result = GameResult.objects.create(
                game=game,
                player=player,
                map_id=game.map_id,
                mode=game.mode,
                is_machine=player.kind == "machine",
                total_points=totals["points"] or 0,
                total_time_s=round(totals["time_s"] or 0.0, 1),
                finished_at=now,
            )
            for period in (rules.ALL_TIME, rules.week_period(now)):
                best_raise(result, period)
            return result
    except IntegrityError:  # recorded already (a redelivered guess, two at once)
        return None


def best_raise(result, period):
    """Make `result` the player's best in `period` if it beats the one there (row locked)."""
    key = dict(map_id=result.map_id, mode=result.mode, period=period, player_id=result.player_id)
    values = dict(
        result=result,
        is_machine=result.is_machine,
        total_points=result.total_points,
        total_time_s=result.total_time_s,
    )
    best = PlayerBest.objects.select_for_update().filter(**key).first()
    if best is None:
        try:
            with transaction.atomic():
                PlayerBest.objects.create(**key, **values)
            return
        except IntegrityError:  # another result of this player got there first
            best = PlayerBest.objects.select_for_update().get(**key)
    if rules.is_better(result.total_points, result.total_time_s, best.total_points, best.total_time_s):
        PlayerBest.objects.filter(id=best.id).update(**values)


def guess_saved(sender, instance, created, **kwargs):
    """post_save on Guess: a new guess in its game's last round may be its player's last."""
    if not created:
        return
    rnd = instance.round
    game = rnd.game
    if Guess.objects.filter(round__game=game, player_id=instance.player_id).count() >= game.rounds_total:
        player = instance.player
        transaction.on_commit(lambda: result_record(game=game, player=player))
