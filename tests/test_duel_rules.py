"""The duel rules as plain functions: no database, no server."""

from datetime import UTC, datetime, timedelta

import pytest

from geogame.duels import rules as r

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "expected"), [(1, 1.0), (2, 1.0), (4, 1.0), (5, 1.5), (6, 2.0), (7, 2.5), (10, 4.0)]
)
def test_the_multiplier_is_one_until_round_five_then_rises_by_a_half(number, expected):
    assert r.multiplier(number) == expected


def test_round_numbers_start_at_one():
    with pytest.raises(ValueError):
        r.multiplier(0)


def test_the_side_with_fewer_points_loses_the_difference():
    out = r.apply_round((6000, 6000), (4000, 2500), 1)
    assert out.damage == (0, 1500)
    assert out.health == (6000, 4500)
    assert out.points == (4000, 2500)
    assert out.multiplier == 1.0


def test_damage_is_multiplied_from_round_five_on_and_half_points_round_up():
    assert r.apply_round((6000, 6000), (1000, 1401), 5).damage == (602, 0)  # 401 * 1.5 = 601.5
    assert r.apply_round((6000, 6000), (0, 1000), 6).damage == (2000, 0)


def test_equal_points_do_no_damage():
    assert r.apply_round((3000, 2000), (1234, 1234), 7).health == (3000, 2000)


def test_a_round_without_a_guess_scores_zero():
    out = r.apply_round((6000, 6000), (None, 3000), 1)
    assert out.points == (0, 3000)
    assert out.health == (3000, 6000)
    assert r.apply_round((6000, 6000), (None, None), 1).health == (6000, 6000)


def test_health_stops_at_zero():
    assert r.apply_round((1000, 6000), (0, 5000), 1).health == (0, 6000)


@pytest.mark.parametrize("points", [(-1, 0), (1.5, 0), (True, 0), ("5", 0)])
def test_points_must_be_whole_and_non_negative(points):
    with pytest.raises(ValueError):
        r.apply_round((6000, 6000), points, 1)


def test_a_duel_has_two_sides():
    with pytest.raises(ValueError):
        r.apply_round((6000, 6000, 6000), (1, 2, 3), 1)


def test_the_duel_ends_when_a_side_reaches_zero():
    assert r.verdict((0, 1200), 3, 15) == r.Verdict(over=True, winner=1, reason=r.KNOCKOUT)
    assert r.verdict((5, 0), 3, 15) == r.Verdict(over=True, winner=0, reason=r.KNOCKOUT)


def test_the_duel_goes_on_while_both_stand_and_rounds_remain():
    assert r.verdict((1, 1), 14, 15) == r.Verdict(over=False)


def test_after_the_last_round_the_higher_health_wins_or_it_is_a_draw():
    assert r.verdict((3000, 2000), 15, 15) == r.Verdict(over=True, winner=0, reason=r.LAST_ROUND)
    assert r.verdict((100, 2000), 15, 15) == r.Verdict(over=True, winner=1, reason=r.LAST_ROUND)
    assert r.verdict((2000, 2000), 15, 15) == r.Verdict(over=True, winner=None, reason=r.LAST_ROUND)


def test_a_knockout_in_the_last_round_is_a_knockout():
    assert r.verdict((0, 10), 15, 15).reason == r.KNOCKOUT


def test_a_whole_duel_played_round_by_round():
    health, number = (r.START_HEALTH, r.START_HEALTH), 0
    while not r.verdict(health, number, 15).over:
        number += 1
        health = r.apply_round(health, (1000, 1800), number).health
    # 800 a round for four rounds, then 1200, 1600, 2000: 3200 + 1200 + 1600 = 6000 at round 6.
    assert number == 6
    assert health == (0, 6000)
    assert r.verdict(health, number, 15).winner == 1


def test_the_first_guess_leaves_the_other_side_fifteen_seconds():
    deadline = T0 + timedelta(seconds=60)
    assert r.deadline_after_guess(deadline, T0 + timedelta(seconds=10)) == T0 + timedelta(seconds=25)


def test_the_drop_never_gives_more_time_than_was_left():
    deadline = T0 + timedelta(seconds=60)
    assert r.deadline_after_guess(deadline, T0 + timedelta(seconds=50)) == deadline


def test_a_round_without_a_clock_gets_one_after_the_first_guess():
    assert r.deadline_after_guess(None, T0, drop_s=5) == T0 + timedelta(seconds=5)


def test_a_ranked_side_that_misses_a_deadline_forfeits():
    assert r.forfeit([]) == r.Verdict(over=False)
    assert r.forfeit([1]) == r.Verdict(over=True, winner=0, reason=r.FORFEIT)
    assert r.forfeit([0]) == r.Verdict(over=True, winner=1, reason=r.FORFEIT)
    assert r.forfeit([1, 0]) == r.Verdict(over=True, winner=None, reason=r.FORFEIT)
    assert [r.score_of_side_0(w) for w in (0, 1, None)] == [1.0, 0.0, 0.5]
