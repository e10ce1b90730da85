"""The study protocol's plain functions (geogame.studies.rules) and the guess telemetry checks."""

import pytest

from geogame.game import rules
from geogame.studies import rules as study_rules

QUESTIONS = [{"key": "familiarity", "label": "How well?", "choices": ["not at all", "well"]}]


def test_study_sets_are_disjoint_sized_and_fixed_by_the_seed():
    ids = list(range(100, 130))
    practice, test = study_rules.study_location_sets(ids, 5, 12, seed=7)
    assert len(practice) == 5 and len(test) == 12
    assert not set(practice) & set(test)
    assert set(practice) | set(test) <= set(ids)
    assert study_rules.study_location_sets(list(reversed(ids)), 5, 12, seed=7) == (practice, test)
    assert study_rules.study_location_sets(ids, 5, 12, seed=8) != (practice, test)


def test_a_study_larger_than_the_test_split_is_refused_with_the_numbers():
    with pytest.raises(
        ValueError, match=r"has 4 playable locations; this study needs 5 \(2 practice \+ 3 test\)"
    ):
        study_rules.study_location_sets([1, 2, 3, 4], 2, 3, seed=0)
    with pytest.raises(ValueError, match="at least one test location"):
        study_rules.study_location_sets([1, 2, 3], 1, 0, seed=0)


def test_a_participants_order_is_practice_first_each_phase_shuffled_by_their_seed():
    practice, test = [1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15, 16]
    order = study_rules.participant_order(practice, test, participant_seed=3)
    assert sorted(order[:5]) == practice and sorted(order[5:]) == test
    assert study_rules.participant_order(practice, test, 3) == order
    orders = {tuple(study_rules.participant_order(practice, test, seed)) for seed in range(20)}
    assert len(orders) > 15  # seeds give different orders


def test_phase_of_a_trial():
    assert [study_rules.phase_of(i, 2) for i in range(4)] == ["practice", "practice", "test", "test"]
    assert study_rules.phase_of(0, 0) == "test"


def test_self_reported_answers_keep_known_keys_and_offered_choices_only():
    assert study_rules.clean_answers({"familiarity": "well", "name": "Ada"}, QUESTIONS) == {
        "familiarity": "well"
    }
    assert study_rules.clean_answers({"familiarity": ""}, QUESTIONS) == {}
    assert study_rules.clean_answers(None, QUESTIONS) == {}
    with pytest.raises(ValueError, match="offered answers"):
        study_rules.clean_answers({"familiarity": "expert"}, QUESTIONS)


@pytest.mark.parametrize(
    "questions",
    [
        "familiarity",
        [{"key": "a b", "label": "x", "choices": ["1", "2"]}],
        [{"key": "a", "label": "", "choices": ["1", "2"]}],
        [{"key": "a", "label": "x", "choices": ["1"]}],
        [
            {"key": "a", "label": "x", "choices": ["1", "2"]},
            {"key": "a", "label": "y", "choices": ["1", "2"]},
        ],
    ],
)
def test_malformed_questions_are_refused(questions):
    with pytest.raises(ValueError):
        study_rules.check_questions(questions)


def test_view_times_are_one_whole_number_of_ms_per_view():
    assert rules.check_view_ms([1200, 0, 35], 3) == [1200, 0, 35]
    assert rules.check_view_ms(None, 3) == []
    for bad in ([1, 2], [1, 2, -1], [1, 2, 3.5], [1, 2, True], "1,2,3", [1, 2, 10**12]):
        with pytest.raises(ValueError, match="view_ms"):
            rules.check_view_ms(bad, 3)


def test_screen_size_is_two_positive_whole_numbers():
    assert rules.check_screen({"w": 1280, "h": 720}) == (1280, 720)
    assert rules.check_screen(None) == (None, None)
    for bad in ([1280, 720], {"w": 0, "h": 720}, {"w": 1280}, {"w": 1280.5, "h": 720}, {"w": 10**6, "h": 1}):
        with pytest.raises(ValueError, match="screen"):
            rules.check_screen(bad)
