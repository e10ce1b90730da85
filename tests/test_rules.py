from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from geogame.rules import assign_split, choose_locations, deadline_for, is_past_deadline


def test_splits_are_deterministic_for_a_seed_and_change_with_it():
    keys = [f"Mapillary:{i}" for i in range(500)]
    first = [assign_split(k, seed=1) for k in keys]
    assert first == [assign_split(k, seed=1) for k in keys]
    assert first != [assign_split(k, seed=2) for k in keys]


def test_splits_follow_the_fractions():
    counts = Counter(assign_split(f"k{i}", seed=7) for i in range(20000))
    assert counts["train"] / 20000 == pytest.approx(0.70, abs=0.02)
    assert counts["val"] / 20000 == pytest.approx(0.15, abs=0.02)
    assert counts["test"] / 20000 == pytest.approx(0.15, abs=0.02)


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
