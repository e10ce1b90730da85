"""Duel rules: health, damage, the end of a duel, the shortened clock. Pure; no Django.

Two sides (0 and 1) start with START_HEALTH and guess the same locations. After each
round the side with fewer points loses the point difference times the round's
multiplier; a round without a guess scores 0. The duel ends when a side reaches 0
health, or after the last allowed round, when the higher health wins (equal: a draw).
Once one side has guessed, the other has at most DROP_S seconds left.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

START_HEALTH = 6000
DROP_S = 15
# Rounds 1-4 count once; from round 5 on the multiplier rises by 0.5 a round.
MULTIPLIER_FROM_ROUND = 5
MULTIPLIER_STEP = 0.5

KNOCKOUT = "knockout"
LAST_ROUND = "last_round"
FORFEIT = "forfeit"  # ranked: a side without a guess at a round's deadline (gone, disconnected) loses


@dataclass(frozen=True)
class RoundOutcome:
    """What one round did: points and damage per side, and the health after it."""

    number: int  # 1-based
    multiplier: float
    points: tuple[int, int]
    damage: tuple[int, int]  # damage taken by side 0 and side 1; one of them is 0
    health: tuple[int, int]


@dataclass(frozen=True)
class Verdict:
    over: bool
    winner: int | None = None  # the winning side; None while playing or for a draw
    reason: str = ""  # KNOCKOUT or LAST_ROUND once over


def multiplier(number):
    """The damage multiplier of round `number` (1-based): 1.0, 1.0, 1.0, 1.0, 1.5, 2.0, ..."""
    if number < 1:
        raise ValueError(f"round numbers start at 1, got {number}")
    return 1.0 + MULTIPLIER_STEP * max(0, number - MULTIPLIER_FROM_ROUND + 1)


def points_or_zero(points):
    """A side's points for a round: a round with no guess (None) scores 0."""
    if points is None:
        return 0
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        raise ValueError(f"points must be a non-negative integer or None, got {points!r}")
    return points


def damage(points, number):
    """(damage to side 0, damage to side 1) for a round's points; half points round up."""
    p0, p1 = (points_or_zero(p) for p in points)
    amount = math.floor(abs(p0 - p1) * multiplier(number) + 0.5)
    if p0 < p1:
        return (amount, 0)
    if p1 < p0:
        return (0, amount)
    return (0, 0)


def apply_round(health, points, number):
    """The outcome of round `number` for sides at `health` scoring `points` (None: no guess)."""
    if len(health) != 2 or len(points) != 2:
        raise ValueError("a duel has exactly two sides")
    points = tuple(points_or_zero(p) for p in points)
    hurt = damage(points, number)
    after = tuple(max(0, h - d) for h, d in zip(health, hurt, strict=True))
    return RoundOutcome(
        number=number, multiplier=multiplier(number), points=points, damage=hurt, health=after
    )


def verdict(health, rounds_played, max_rounds):
    """Whether the duel is over after `rounds_played` rounds, and who won."""
    h0, h1 = health
    if h0 <= 0 or h1 <= 0:
        if h0 <= 0 and h1 <= 0:  # cannot happen (one side takes no damage), but never crown a dead side
            return Verdict(over=True, winner=None, reason=KNOCKOUT)
        return Verdict(over=True, winner=1 if h0 <= 0 else 0, reason=KNOCKOUT)
    if rounds_played >= max_rounds:
        return Verdict(over=True, winner=None if h0 == h1 else (0 if h0 > h1 else 1), reason=LAST_ROUND)
    return Verdict(over=False)


def forfeit(missed_sides):
    """A ranked duel's verdict after a round in which `missed_sides` had no guess by the deadline
    (plus grace): one of them loses at once; both, a draw; none, the duel goes on."""
    missed = set(missed_sides)
    if not missed:
        return Verdict(over=False)
    if missed >= {0, 1}:
        return Verdict(over=True, winner=None, reason=FORFEIT)
    (side,) = missed
    return Verdict(over=True, winner=1 - side, reason=FORFEIT)


def score_of_side_0(winner):
    """Side 0's score for a rating: 1 if it won, 0 if it lost, 0.5 for a draw (winner None)."""
    return {0: 1.0, 1: 0.0, None: 0.5}[winner]


def deadline_after_guess(deadline: datetime | None, guessed_at: datetime, drop_s=DROP_S):
    """The other side's deadline once one side has guessed at `guessed_at`: at most
    `drop_s` seconds away, never later than it already was."""
    dropped = guessed_at + timedelta(seconds=drop_s)
    return dropped if deadline is None else min(deadline, dropped)


def machine_announce_after_s(think_s, floor_s, round_s, drop_s=DROP_S):
    """Seconds after a round's start at which a machine side's guess is announced: its think time,
    but never so early that the human is left less than `floor_s` seconds in all (announcing at t
    leaves them min(round_s, t + drop_s)); with a round clock shorter than the floor, never before
    round_s - drop_s, so the human keeps the whole clock."""
    floor_s = min(floor_s, round_s) if round_s else floor_s
    return max(float(think_s), floor_s - drop_s, 0.0)
