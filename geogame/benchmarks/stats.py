"""Statistics of the benchmark report: bootstrap intervals, the paired human-vs-model
comparison, confusion counts. Pure numpy; no Django.

Intervals are percentile bootstrap intervals from a seeded numpy Generator, so a report
recomputed with the same seed has the same bounds.
"""

import math
from collections import Counter

import numpy as np

NO_ANSWER = "(no answer)"


def resample_indices(n, *, groups=None, n_resamples=2000, seed=0):
    """Yield `n_resamples` index arrays into a sample of `n` items, drawn with replacement.

    Without `groups`: the plain bootstrap (n items each time). With `groups` (a label per
    item, e.g. the participant of each answer): the two-stage bootstrap for clustered data.
    Groups are drawn with replacement, then items within each drawn group, so the interval
    reflects both how people differ and how one person's answers vary; it stays sensible
    with a single group, where the first stage is a no-op.
    """
    if n < 1:
        raise ValueError("the bootstrap needs at least one item")
    if n_resamples < 1:
        raise ValueError("the bootstrap needs at least one resample")
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(n_resamples):
            yield rng.integers(0, n, n)
        return
    groups = list(groups)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} group labels for {n} items")
    members = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    flat = np.concatenate([np.asarray(ix) for ix in members.values()])
    sizes = np.array([len(ix) for ix in members.values()])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(sizes), len(sizes))
        drawn_sizes = sizes[drawn]
        offsets = np.floor(rng.random(drawn_sizes.sum()) * np.repeat(drawn_sizes, drawn_sizes)).astype(int)
        yield flat[np.repeat(starts[drawn], drawn_sizes) + offsets]


def bootstrap_ci(statistic, n, *, groups=None, n_resamples=2000, seed=0, level=0.95):
    """Percentile bootstrap interval(s) of `statistic(index_array)` over a sample of `n` items.

    `statistic` returns a float, or a dict of floats (each gets its own interval, from the
    same resamples). A value that is None or NaN in a resample (e.g. the median distance of
    a resample made only of timed-out answers) is left out of that value's percentiles.
    Returns [low, high] (None where no resample had a value), or a dict of those.
    """
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    draws = [statistic(ix) for ix in resample_indices(n, groups=groups, n_resamples=n_resamples, seed=seed)]
    q = [50 * (1 - level), 50 * (1 + level)]

    def interval(values):
        values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if np.all(np.isnan(values)):
            return None
        low, high = np.nanpercentile(values, q)
        return [float(low), float(high)]

    if isinstance(draws[0], dict):
        return {key: interval([d[key] for d in draws]) for key in draws[0]}
    return interval(draws)


def sign_test(wins, losses):
    """Exact two-sided sign test p-value for `wins` against `losses` (ties already dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_comparison(human, model, *, n_resamples=2000, seed=0, level=0.95):
    """Model against humans on the same locations.

    `human[i]` is the humans' mean outcome at location i (share correct, or mean points, over
    every human answer there); `model[i]` is the model's outcome there. The difference is
    model minus human, averaged over locations, with a bootstrap interval that resamples
    locations (the pairs stay together). The p-value is the exact two-sided sign test on
    the locations where one side did better; with one binary human answer per location this
    is McNemar's exact test on the discordant pairs.
    """
    human = np.asarray(human, dtype=np.float64)
    model = np.asarray(model, dtype=np.float64)
    if human.shape != model.shape or human.ndim != 1 or len(human) == 0:
        raise ValueError("paired_comparison needs two equally long, non-empty 1-D samples")
    diff = model - human
    wins, losses = int(np.sum(diff > 0)), int(np.sum(diff < 0))
    return {
        "locations": len(diff),
        "human": float(human.mean()),
        "model": float(model.mean()),
        "difference": float(diff.mean()),
        "difference_ci": bootstrap_ci(
            lambda ix: float(diff[ix].mean()), len(diff), n_resamples=n_resamples, seed=seed, level=level
        ),
        "model_better": wins,
        "human_better": losses,
        "ties": len(diff) - wins - losses,
        "sign_test_p": sign_test(wins, losses),
    }


def _check_labels(values, labels, what):
    unknown = sorted({v for v in values if v and v not in labels})
    if unknown:
        raise ValueError(f"{what} not among the labels: {', '.join(unknown)}")


def confusion_matrix(truth, predicted, labels):
    """Counts[i][j]: how often a location of labels[i] was answered with column j.

    Columns are `labels`, plus NO_ANSWER when some answer is empty (e.g. timed out).
    Returns (columns, counts)."""
    truth, predicted, labels = list(truth), list(predicted), list(labels)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(predicted)} answers for {len(truth)} locations")
    _check_labels(truth, labels, "true cities")
    _check_labels(predicted, labels, "answered cities")
    if any(not t for t in truth):
        raise ValueError("every location needs a true city")
    columns = labels + ([NO_ANSWER] if any(not p for p in predicted) else [])
    col = {c: j for j, c in enumerate(columns)}
    row = {c: i for i, c in enumerate(labels)}
    counts = [[0] * len(columns) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        counts[row[t]][col[p or NO_ANSWER]] += 1
    return columns, counts


def prediction_distribution(predicted, labels):
    """{label: how often it was answered} over `labels` (zeros kept), plus NO_ANSWER if any."""
    predicted, labels = list(predicted), list(labels)
    _check_labels(predicted, labels, "answered cities")
    counts = Counter(p or NO_ANSWER for p in predicted)
    out = {label: counts.get(label, 0) for label in labels}
    if counts.get(NO_ANSWER):
        out[NO_ANSWER] = counts[NO_ANSWER]
    return out


def accuracy_by_label(truth, correct):
    """{label: (answers, correct answers)} in the order labels first appear sorted."""
    out = {}
    for t, c in zip(truth, correct, strict=True):
        n, k = out.get(t, (0, 0))
        out[t] = (n + 1, k + bool(c))
    return dict(sorted(out.items()))
