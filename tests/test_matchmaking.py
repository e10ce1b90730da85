"""Who plays whom in the ranked queue (geogame/ranked/matchmaking.py), as plain functions."""

from geogame.ranked import matchmaking as mm
from geogame.ranked.matchmaking import Entry


def test_the_window_widens_with_the_wait_up_to_a_most():
    assert mm.window(0) == mm.WINDOW_START
    assert mm.window(4) == mm.WINDOW_START + 4 * mm.WINDOW_PER_S
    assert mm.window(10_000) == mm.WINDOW_MOST
    assert mm.window(-5) == mm.WINDOW_START  # clocks of two processes may disagree a little


def test_close_ratings_pair_at_once_and_far_ones_only_after_waiting():
    a, b = Entry("a", 1500, 0.0), Entry("b", 1580, 0.0)
    assert mm.plan([a, b], now=0.0, machine_after_s=20).pairs == ((a, b),)
    far = Entry("c", 1800, 0.0)
    assert mm.plan([a, far], now=0.0, machine_after_s=20).pairs == ()
    # 300 apart: in reach once the longer waiter's window is 300 wide (8 s at 25 a second).
    assert mm.plan([a, far], now=7.9, machine_after_s=20).pairs == ()
    assert mm.plan([a, far], now=8.0, machine_after_s=20).pairs == ((a, far),)


def test_the_longest_waiting_pairs_first_with_the_closest_rating():
    old = Entry("old", 1500, 0.0)
    near, nearer = Entry("near", 1590, 5.0), Entry("nearer", 1510, 6.0)
    other = Entry("other", 1595, 6.5)
    planned = mm.plan([nearer, other, near, old], now=7.0, machine_after_s=20)
    assert planned.pairs == ((old, nearer), (near, other))
    assert planned.to_machine == ()


def test_a_player_alone_too_long_goes_to_a_machine_and_nobody_is_taken_twice():
    a, b, c = Entry("a", 1000, 0.0), Entry("b", 2000, 0.0), Entry("c", 1020, 19.0)
    planned = mm.plan([a, b, c], now=20.0, machine_after_s=20)
    assert planned.pairs == ((a, c),)
    assert planned.to_machine == (b,)
    ids = [e.id for pair in planned.pairs for e in pair] + [e.id for e in planned.to_machine]
    assert len(ids) == len(set(ids))
    assert mm.plan([b], now=19.9, machine_after_s=20) == mm.Plan((), ())


def test_the_machine_offered_is_the_one_whose_rating_is_closest():
    machines = [("random", 900.0), ("centroid", 1350.0), ("ensemble", 1720.0)]
    assert mm.closest_machine(1500, machines) == "centroid"
    assert mm.closest_machine(1600, machines) == "ensemble"
    assert mm.closest_machine(100, machines) == "random"
    assert mm.closest_machine(1535, [("b", 1500.0), ("a", 1570.0)]) == "a"  # a tie: by name
    assert mm.closest_machine(1500, []) is None
