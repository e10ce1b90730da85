"""Machine calibration (`manage.py calibrate MAP`): machine players play each other to seed their
ratings (geogame.ranked) before people meet them.

Each calibration game is a duel between two machine players, played at once in this process: the
duel's rules (geogame.duels.rules: health, damage, multiplier, knockout), on places neither of the
two ever learned from and none reserved (the fair-contest pool a duel against them would draw,
geogame.game.location_pools), each guess stored through the machine's usual guess path
(inference.services.machine_guess_run). The game is stored with one machine as its player and the
other as its opponent, and rated as a calibration game (RatingEvent.kind "calibration"): shown on
/machines/ as machine vs machine, and kept off the leaderboards. Players take turns pairing off, all
pairs in turn, each pair with both seatings.
"""

import itertools
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from geogame.common.errors import Refused
from geogame.duels import rules as duel_rules
from geogame.duels.services import duel_min_rounds
from geogame.game import location_pools, machines, rules
from geogame.game.models import Game, Guess, Round
from geogame.ranked import services as ranked_services
from geogame.ranked.models import RatingEvent

from .registry import PLAYERS, UnknownPlayer, availability
from .services import machine_guess_run, machine_player_get

GAMES_MAX = 1000
ERR_GAMES = f"--games must be a whole number from 1 to {GAMES_MAX}, got {{games}}"
ERR_TOO_FEW_PLAYERS = "calibration needs two machine players that can play map {slug}; {have}"
ERR_UNAVAILABLE = "{name} cannot play map {slug}: {reason}"
ERR_TOO_FEW_PLACES = (
    "map {slug} has {have} places free that neither {a} nor {b} has learned from; a calibration game "
    "needs {need}"
)


class CalibrationError(Refused):
    """A calibration refused before any game is played."""


@dataclass(frozen=True)
class Played:
    game: Game
    players: tuple  # (machine name of side 0, of side 1)
    winner: int | None  # the winning side; None for a draw
    rounds: int
    event: RatingEvent | None


def calibration_players(m, names=None):
    """The machine players to calibrate on `m`: `names` (all must be able to play it), or every
    registered player that can. CalibrationError if fewer than two."""
    if names:
        for name in names:
            try:
                reason = availability(name, m)
            except UnknownPlayer as exc:
                raise CalibrationError(str(exc)) from None
            if reason:
                raise CalibrationError(ERR_UNAVAILABLE.format(name=name, slug=m.slug, reason=reason))
        chosen = list(dict.fromkeys(names))
    else:
        chosen = [name for name in PLAYERS if availability(name, m) is None]
    if len(chosen) < 2:
        have = f"only {', '.join(chosen)} can" if chosen else "none can"
        raise CalibrationError(ERR_TOO_FEW_PLAYERS.format(slug=m.slug, have=have))
    return chosen


def pairings(names, games):
    """`games` (side 0, side 1) pairs: every pair in turn, then every pair with the sides swapped."""
    pairs = list(itertools.combinations(names, 2))
    pairs += [(b, a) for a, b in pairs]
    return [pairs[i % len(pairs)] for i in range(games)]


def calibrate(*, m, games, names=None, now=None, on_game=None):
    """Play `games` calibration games on map `m` and rate each. Returns the Played games."""
    if isinstance(games, bool) or not isinstance(games, int) or not 1 <= games <= GAMES_MAX:
        raise CalibrationError(ERR_GAMES.format(games=games))
    chosen = calibration_players(m, names)
    need = duel_min_rounds()
    for a, b in itertools.combinations(chosen, 2):  # every pair's pool, before any game is played
        have = len(location_pools.pool_ids(m, Game.COORDINATES, [a, b], now, for_duel=True))
        if have < need:
            raise CalibrationError(ERR_TOO_FEW_PLACES.format(slug=m.slug, have=have, a=a, b=b, need=need))
    played = []
    for a, b in pairings(chosen, games):
        result = calibration_game(m=m, names=(a, b), now=now)
        played.append(result)
        if on_game is not None:
            on_game(result)
    return played


def calibration_game(*, m, names, now=None):
    """One calibration game between machine players `names` (side 0, side 1), played and rated in
    one transaction: the game, its rounds, guesses and rating commit together."""
    now = now or timezone.now()
    ids = location_pools.pool_ids(m, Game.COORDINATES, list(names), now, for_duel=True)
    rounds_total = min(settings.GEOGAME_DUEL_MAX_ROUNDS, len(ids))
    sides = [machine_player_get(name) for name in names]
    seed = secrets.randbits(62)
    with transaction.atomic():
        game = Game.objects.create(
            player=sides[0],
            opponent=sides[1],
            map=m,
            mode=Game.COORDINATES,
            rounds_total=rounds_total,
            time_limit_s=None,
            seed=seed,
            location_order=rules.choose_locations(ids, rounds_total, seed),
        )
        health, verdict, number = (duel_rules.START_HEALTH,) * 2, duel_rules.Verdict(over=False), 0
        for index, location_id in enumerate(game.location_order):
            rnd = Round.objects.create(
                game=game,
                index=index,
                location_id=location_id,
                image_key=secrets.token_urlsafe(32),
                started_at=now,
                deadline=None,
            )
            points = [_points(rnd, player) for player in sides]
            number = index + 1
            health = duel_rules.apply_round(health, points, number).health
            verdict = duel_rules.verdict(health, number, rounds_total)
            if verdict.over:
                break
        artefacts = [machines.artefact(name, m) for name in names]
        event = ranked_services.match_rate(
            game=game,
            sides=[ranked_services.Side(p, art) for p, art in zip(sides, artefacts, strict=True)],
            score=duel_rules.score_of_side_0(verdict.winner),
            kind=RatingEvent.CALIBRATION,
            now=now,
        )
    return Played(game=game, players=tuple(names), winner=verdict.winner, rounds=number, event=event)


def _points(rnd, player):
    guess = machine_guess_run(round_id=rnd.id, player_id=player.id)
    if not isinstance(guess, Guess) or guess.timed_out:
        return None
    return guess.points
