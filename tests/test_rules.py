from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from geogame.duels import rules as duel_rules
from geogame.game.rules import (
    choose_locations,
    deadline_for,
    is_past_deadline,
    machine_think_s,
    substitute_location,
)
from geogame.maps.rules import (
    LEGACY_SPLIT_FRACTIONS,
    SPLIT_FRACTIONS,
    assign_split,
    parse_split_fractions,
    split_fractions,
)


def test_splits_are_deterministic_for_a_seed_and_change_with_it():
    keys = [f"Mapillary:{i}" for i in range(500)]
    first = [assign_split(k, seed=1) for k in keys]
    assert first == [assign_split(k, seed=1) for k in keys]
    assert first != [assign_split(k, seed=2) for k in keys]


def test_splits_follow_the_fractions():
    counts = Counter(assign_split(f"k{i}", seed=7) for i in range(20000))
    assert counts["train"] / 20000 == pytest.approx(0.60, abs=0.02)
    assert counts["val"] / 20000 == pytest.approx(0.15, abs=0.02)
    assert counts["test"] / 20000 == pytest.approx(0.10, abs=0.02)
    assert counts["play"] / 20000 == pytest.approx(0.15, abs=0.02)


def test_adding_locations_does_not_move_existing_ones():
    before = {f"k{i}": assign_split(f"k{i}", seed=3) for i in range(100)}
    after = {f"k{i}": assign_split(f"k{i}", seed=3) for i in range(200)}
    assert all(after[k] == v for k, v in before.items())


def test_choose_locations_is_seeded_and_distinct():
    ids = list(range(100))
    a = choose_locations(ids, 5, seed=42)
    assert a == choose_locations(list(reversed(ids)), 5, seed=42)
    assert len(set(a)) == 5
    assert a != choose_locations(ids, 5, seed=43)


def test_choose_locations_needs_enough_locations():
    with pytest.raises(ValueError, match="has 3 locations; a game needs 5"):
        choose_locations([1, 2, 3], 5, seed=1)


def test_deadline_with_grace():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    d = deadline_for(t0, 30)
    assert d == t0 + timedelta(seconds=30)
    assert deadline_for(t0, None) is None
    assert not is_past_deadline(d, t0 + timedelta(seconds=31), grace_s=2)
    assert is_past_deadline(d, t0 + timedelta(seconds=33), grace_s=2)
    assert not is_past_deadline(None, t0 + timedelta(days=9))


def test_split_fractions_are_ordered_by_the_rules_not_by_the_mapping():
    shuffled = {"play": 0.15, "test": 0.1, "val": 0.15, "train": 0.6}  # jsonb reorders keys
    assert split_fractions(shuffled) == SPLIT_FRACTIONS
    assert [name for name, _ in SPLIT_FRACTIONS] == ["train", "val", "test", "play"]
    assert parse_split_fractions("train=0.7, val=0.15,test=0.15") == LEGACY_SPLIT_FRACTIONS


def test_the_legacy_fractions_split_as_before_the_play_split_existed():
    old = (("train", 0.70), ("val", 0.15), ("test", 0.15))
    keys = [f"Mapillary:{i}" for i in range(2000)]
    legacy = split_fractions(LEGACY_SPLIT_FRACTIONS)
    assert [assign_split(k, 11, old) for k in keys] == [assign_split(k, 11, legacy) for k in keys]


@pytest.mark.parametrize(
    "text, message",
    [
        ("train=0.5,val=0.4", "add up to 1, not 0.9"),
        ("train=0.5,train=0.5", "named twice"),
        ("train=x", "name=fraction pairs"),
        ("dev=1", "unknown split 'dev'"),
        ("train=1.5,val=-0.5", "from 0 to 1"),
    ],
)
def test_bad_split_fractions_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_split_fractions(text)


def test_a_substitute_location_is_seeded_by_game_and_round_and_comes_from_the_candidates():
    candidates = list(range(10, 40))
    a = substitute_location(candidates, seed=5, index=2)
    assert a in candidates and a == substitute_location(list(reversed(candidates)), seed=5, index=2)
    assert len({substitute_location(candidates, seed=5, index=i) for i in range(20)}) > 1
    assert substitute_location([], seed=5, index=2) is None


def test_think_time_is_uniform_in_its_bounds_without_enough_human_times():
    draws = [machine_think_s(s, [12.0] * 19, min_s=8, max_s=30, min_samples=20) for s in range(2000)]
    assert all(8 <= d <= 30 for d in draws)
    assert min(draws) < 9 and max(draws) > 29  # spread over the whole range
    assert draws == [machine_think_s(s, [12.0] * 19, min_s=8, max_s=30, min_samples=20) for s in range(2000)]


def test_think_time_is_drawn_from_the_human_times_once_there_are_enough():
    humans = [4.0, 7.5, 11.0, 42.0] * 5  # 20 times
    draws = {machine_think_s(s, humans, min_s=8, max_s=30, min_samples=20) for s in range(500)}
    assert draws == {4.0, 7.5, 11.0, 42.0}
    # Capped by the round's clock, and replaced by the deprecated fixed setting when given.
    assert max(machine_think_s(s, humans, min_s=8, max_s=30, limit_s=30) for s in range(500)) == 30.0
    assert machine_think_s(1, humans, min_s=8, max_s=30, fixed_s=3.0) == 3.0
    with pytest.raises(ValueError, match="min <= max"):
        machine_think_s(1, [], min_s=30, max_s=8)


@pytest.mark.parametrize(
    "think, floor, round_s, drop, expected",
    [
        (3.0, 20.0, 60, 15.0, 5.0),  # the floor: the human keeps 5 + 15 = 20 s
        (12.0, 20.0, 60, 15.0, 12.0),  # a longer think time is kept
        (1.0, 20.0, 8, 15.0, 1.0),  # a clock shorter than the drop: announcing never shortens it
        (1.0, 20.0, 30, 5.0, 15.0),  # clock 30 s, drop 5 s: not before 15 s
        (1.0, 0.0, 60, 15.0, 1.0),  # no floor
    ],
)
def test_a_machine_announces_only_after_its_think_time_and_the_floor(think, floor, round_s, drop, expected):
    after = duel_rules.machine_announce_after_s(think, floor, round_s, drop)
    assert after == expected
    human_left = min(round_s, after + drop)  # what the human has in all once the machine announces
    assert human_left >= min(floor, round_s)
