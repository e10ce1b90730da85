"""The benchmark's statistics as plain functions."""

import math

import numpy as np
import pytest

from geogame.benchmarks import stats
from inference.metrics import outcome_summary


def mean_of(values):
    values = np.asarray(values, dtype=np.float64)
    return lambda ix: float(values[ix].mean())


def test_the_interval_of_a_constant_sample_is_that_constant():
    assert stats.bootstrap_ci(mean_of([3.5] * 12), 12, n_resamples=300, seed=1) == [3.5, 3.5]
    grouped = stats.bootstrap_ci(mean_of([2.0] * 9), 9, groups=[0, 0, 0, 1, 1, 2, 2, 2, 2], n_resamples=300)
    assert grouped == [2.0, 2.0]


def test_intervals_are_reproducible_with_the_seed_and_change_with_it():
    values = np.random.default_rng(5).normal(size=40)
    first = stats.bootstrap_ci(mean_of(values), 40, n_resamples=500, seed=11)
    assert stats.bootstrap_ci(mean_of(values), 40, n_resamples=500, seed=11) == first
    assert stats.bootstrap_ci(mean_of(values), 40, n_resamples=500, seed=12) != first
    assert first[0] < values.mean() < first[1]


def test_a_95_percent_interval_covers_a_known_proportion_about_95_percent_of_the_time():
    rng = np.random.default_rng(2024)
    p, n, trials = 0.3, 80, 200
    covered = 0
    for k in range(trials):
        sample = (rng.random(n) < p).astype(float)
        low, high = stats.bootstrap_ci(mean_of(sample), n, n_resamples=400, seed=k)
        covered += low <= p <= high
    assert 0.88 <= covered / trials <= 0.99


def test_statistics_returning_dicts_get_one_interval_each_and_missing_values_are_skipped():
    km = np.array([1.0, np.nan, 3.0, 5.0])

    def figures(ix):
        answered = km[ix][~np.isnan(km[ix])]
        return {"median": float(np.median(answered)) if len(answered) else None, "n": float(len(ix))}

    cis = stats.bootstrap_ci(figures, 4, n_resamples=300, seed=0)
    assert 1.0 <= cis["median"][0] <= cis["median"][1] <= 5.0
    assert cis["n"] == [4.0, 4.0]


def test_the_two_stage_bootstrap_widens_the_interval_when_people_differ():
    # Five people: two always right, three always wrong. Resampling answers alone treats
    # the 50 answers as independent; resampling people first shows how few people there are.
    values = [1.0] * 20 + [0.0] * 30
    groups = [i // 10 for i in range(50)]
    plain = stats.bootstrap_ci(mean_of(values), 50, n_resamples=1000, seed=3)
    grouped = stats.bootstrap_ci(mean_of(values), 50, groups=groups, n_resamples=1000, seed=3)
    assert grouped[1] - grouped[0] > 1.5 * (plain[1] - plain[0])
    one_person = stats.bootstrap_ci(mean_of([1.0, 0.0] * 10), 20, groups=[0] * 20, n_resamples=500)
    assert one_person[0] < 0.5 < one_person[1]  # a single group still has its answers' spread


def test_two_stage_resamples_keep_each_drawn_persons_answer_count():
    groups = ["a"] * 3 + ["b"] * 1 + ["c"] * 6
    sizes = {"a": 3, "b": 1, "c": 6}
    for ix in stats.resample_indices(10, groups=groups, n_resamples=50, seed=4):
        assert all(0 <= i < 10 for i in ix)
        # the resample is made of whole people's worth of answers
        assert len(ix) in {a + b + c for a in sizes.values() for b in sizes.values() for c in sizes.values()}


def test_bad_bootstrap_input_is_refused():
    with pytest.raises(ValueError, match="at least one item"):
        list(stats.resample_indices(0))
    with pytest.raises(ValueError, match="3 group labels for 4 items"):
        list(stats.resample_indices(4, groups=[0, 1, 2]))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        stats.bootstrap_ci(mean_of([1.0]), 1, level=95)


def test_the_sign_test_matches_the_binomial_tail():
    def two_sided(w, n):
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(w, n - w) + 1)) / 2**n)

    assert stats.sign_test(0, 5) == pytest.approx(2 / 32)
    assert stats.sign_test(1, 9) == pytest.approx(22 / 1024)
    assert stats.sign_test(9, 1) == stats.sign_test(1, 9)
    assert stats.sign_test(3, 3) == 1.0
    assert stats.sign_test(0, 0) == 1.0
    assert stats.sign_test(12, 4) == pytest.approx(two_sided(12, 16))


def test_paired_comparison_on_a_hand_made_example():
    human = [1.0, 0.5, 0.0, 1.0, 0.5]
    model = [1.0, 1.0, 1.0, 0.0, 0.5]
    result = stats.paired_comparison(human, model, n_resamples=500, seed=0)
    assert result["difference"] == pytest.approx((0 + 0.5 + 1 - 1 + 0) / 5)
    assert (result["model_better"], result["human_better"], result["ties"]) == (2, 1, 2)
    assert result["sign_test_p"] == pytest.approx(1.0)
    low, high = result["difference_ci"]
    assert -1 <= low <= result["difference"] <= high <= 1
    with pytest.raises(ValueError, match="equally long"):
        stats.paired_comparison([1.0], [1.0, 0.0])


def test_confusion_counts_and_prediction_distribution_on_a_hand_made_example():
    labels = ["A", "B", "C"]
    truth = ["A", "A", "A", "B", "B", "C"]
    answered = ["A", "B", "", "B", "A", "A"]
    columns, counts = stats.confusion_matrix(truth, answered, labels)
    assert columns == ["A", "B", "C", stats.NO_ANSWER]
    assert counts == [[1, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0]]
    assert stats.confusion_matrix(["A"], ["C"], labels) == (labels, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
    assert stats.prediction_distribution(answered, labels) == {"A": 3, "B": 2, "C": 0, stats.NO_ANSWER: 1}
    assert stats.accuracy_by_label(truth, [a == t for a, t in zip(answered, truth, strict=True)]) == {
        "A": (3, 1),
        "B": (2, 1),
        "C": (1, 0),
    }
    with pytest.raises(ValueError, match="answered cities not among the labels: Z"):
        stats.confusion_matrix(["A"], ["Z"], labels)


def test_outcome_summary_counts_a_missing_answer_as_a_miss_but_not_as_a_distance():
    row = outcome_summary([10.0, np.nan, 300.0], [4000, 0, 1000], [True, False, False])
    assert row["n"] == 3 and row["n_answered"] == 2
    assert row["median_km"] == 155.0 and row["mean_km"] == 155.0
    assert row["mean_points"] == pytest.approx(5000 / 3)
    assert row["accuracy"] == pytest.approx(100 / 3)
    assert row["within_25km"] == pytest.approx(100 / 3) and row["within_750km"] == pytest.approx(200 / 3)
    all_missing = outcome_summary([np.nan], [0])
    assert all_missing["median_km"] is None and all_missing["accuracy"] is None
