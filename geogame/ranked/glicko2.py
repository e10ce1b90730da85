"""Glicko-2 (Glickman, "Example of the Glicko-2 system", 2013), as published. Pure; no Django.

A rating is (rating, deviation, volatility) on the Glicko scale (1500 / 350 / 0.06 to start).
`rate` is the paper's steps 2-8 for one rating period: every result of the period against the
opponents' ratings as they were when the period began. `idle` is step 6 alone, for periods in which
a player played nothing: the deviation grows with the volatility. A server that rates every game at
once treats each game as a period of its own, after `idle` for the periods that have passed since
the player's last game (geogame.ranked.services).

The PyPI package `glicko2` (2.1.0) was looked at: its system constant is one class attribute for
all players, its Player is mutable, and it has no elapsed-period step beyond one period at a time;
these forty lines of the paper are easier to check than that.
"""

import math
from dataclasses import dataclass

SCALE = 173.7178  # Glicko to Glicko-2: mu = (r - 1500) / SCALE, phi = RD / SCALE
START_RATING = 1500.0
START_DEVIATION = 350.0
START_VOLATILITY = 0.06
TAU = 0.5  # the system constant: how fast volatility may change (0.3-1.2 in the paper)
EPSILON = 0.000001  # the paper's convergence tolerance for the volatility iteration

WIN, DRAW, LOSS = 1.0, 0.5, 0.0


@dataclass(frozen=True)
class Rating:
    rating: float = START_RATING
    deviation: float = START_DEVIATION
    volatility: float = START_VOLATILITY


@dataclass(frozen=True)
class Result:
    """One game of the period: the opponent's rating at the period's start and the score (1, 0.5, 0)."""

    opponent: Rating
    score: float


def _mu(r):
    return (r.rating - START_RATING) / SCALE


def _phi(r):
    return r.deviation / SCALE


def _g(phi):
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _e(mu, mu_j, phi_j):
    return 1.0 / (1.0 + math.exp(-_g(phi_j) * (mu - mu_j)))


def expected_score(player: Rating, opponent: Rating):
    """The chance `player` beats `opponent` (a draw counting half), as the system sees it."""
    return _e(_mu(player), _mu(opponent), _phi(opponent))


def _volatility(phi, sigma, delta, v, tau):
    """Step 5: the new volatility, by the Illinois algorithm."""
    a = math.log(sigma * sigma)

    def f(x):
        ex = math.exp(x)
        return ex * (delta * delta - phi * phi - v - ex) / (2.0 * (phi * phi + v + ex) ** 2) - (x - a) / (
            tau * tau
        )

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > EPSILON:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def _check(r: Rating):
    for value in (r.rating, r.deviation, r.volatility):
        if not math.isfinite(value):
            raise ValueError(f"a rating's numbers must be finite, got {r}")
    if r.deviation <= 0 or r.volatility <= 0:
        raise ValueError(f"a rating's deviation and volatility must be positive, got {r}")


def rate(player: Rating, results, tau=TAU, max_deviation=START_DEVIATION):
    """The player's rating after one rating period with `results` (steps 2-8 of the paper).
    No results: the deviation grows as after one idle period (step 6 alone)."""
    _check(player)
    results = list(results)
    if not results:
        return idle(player, 1, max_deviation)
    mu, phi, sigma = _mu(player), _phi(player), player.volatility
    v_inv, delta_sum = 0.0, 0.0
    for res in results:
        _check(res.opponent)
        if res.score not in (WIN, DRAW, LOSS):
            raise ValueError(f"a score is 1, 0.5 or 0, got {res.score!r}")
        mu_j, phi_j = _mu(res.opponent), _phi(res.opponent)
        e = _e(mu, mu_j, phi_j)
        g = _g(phi_j)
        v_inv += g * g * e * (1.0 - e)
        delta_sum += g * (res.score - e)
    v = 1.0 / v_inv
    delta = v * delta_sum
    sigma_new = _volatility(phi, sigma, delta, v, tau)
    phi_star = math.sqrt(phi * phi + sigma_new * sigma_new)
    phi_new = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
    mu_new = mu + phi_new * phi_new * delta_sum
    deviation = min(phi_new * SCALE, max_deviation)
    return Rating(rating=mu_new * SCALE + START_RATING, deviation=deviation, volatility=sigma_new)


def idle(player: Rating, periods, max_deviation=START_DEVIATION):
    """The rating after `periods` rating periods (may be fractional) without a game: the deviation
    grows to sqrt(phi^2 + periods * sigma^2), never past `max_deviation`; the rest is unchanged."""
    _check(player)
    if periods < 0 or not math.isfinite(periods):
        raise ValueError(f"periods must be a finite number >= 0, got {periods!r}")
    phi = _phi(player)
    grown = math.sqrt(phi * phi + periods * player.volatility * player.volatility) * SCALE
    return Rating(player.rating, min(max(grown, player.deviation), max_deviation), player.volatility)
