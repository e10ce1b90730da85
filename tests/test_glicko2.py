"""Glicko-2 as plain functions (geogame/ranked/glicko2.py), against the paper's worked example."""

import math

import pytest

from geogame.ranked import glicko2
from geogame.ranked.glicko2 import Rating, Result


def test_the_papers_example():
    """Glickman, "Example of the Glicko-2 system" (2013): a 1500/200/0.06 player beats 1400/30 and
    loses to 1550/100 and 1700/300 in one period, tau 0.5."""
    player = Rating(1500, 200, 0.06)
    results = [
        Result(Rating(1400, 30), glicko2.WIN),
        Result(Rating(1550, 100), glicko2.LOSS),
        Result(Rating(1700, 300), glicko2.LOSS),
    ]
    after = glicko2.rate(player, results, tau=0.5)
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=0.00001)


def test_a_period_without_games_only_widens_the_deviation():
    player = Rating(1600, 50, 0.06)
    after = glicko2.rate(player, [])
    # Step 6 alone: phi* = sqrt(phi^2 + sigma^2), on the Glicko scale.
    assert after.rating == 1600 and after.volatility == 0.06
    assert after.deviation == pytest.approx(math.sqrt((50 / 173.7178) ** 2 + 0.06**2) * 173.7178)
    assert glicko2.idle(player, 2.5).deviation > glicko2.idle(player, 1).deviation > 50
    assert glicko2.idle(player, 0) == player
    assert glicko2.idle(Rating(1500, 340), 1000).deviation == 350  # never past the start


def test_games_move_ratings_the_expected_way_and_draws_between_equals_change_nothing():
    a, b = Rating(), Rating()
    win = glicko2.rate(a, [Result(b, glicko2.WIN)])
    loss = glicko2.rate(b, [Result(a, glicko2.LOSS)])
    assert win.rating > 1500 > loss.rating
    assert win.rating - 1500 == pytest.approx(1500 - loss.rating)
    assert win.deviation < 350 and loss.deviation < 350
    assert glicko2.rate(a, [Result(b, glicko2.DRAW)]).rating == pytest.approx(1500)
    # Beating a much stronger player is worth more than beating a weaker one.
    strong, weak = Rating(1900, 60), Rating(1100, 60)
    assert glicko2.rate(a, [Result(strong, 1.0)]).rating > glicko2.rate(a, [Result(weak, 1.0)]).rating
    assert glicko2.expected_score(strong, weak) > 0.9


@pytest.mark.parametrize(
    "player, results",
    [
        (Rating(1500, 0, 0.06), []),
        (Rating(float("nan"), 200, 0.06), []),
        (Rating(), [Result(Rating(), 2.0)]),
        (Rating(), [Result(Rating(1500, -1), 1.0)]),
    ],
)
def test_bad_numbers_are_refused(player, results):
    with pytest.raises(ValueError):
        glicko2.rate(player, results)


def test_idle_refuses_negative_periods():
    with pytest.raises(ValueError, match="periods"):
        glicko2.idle(Rating(), -1)
