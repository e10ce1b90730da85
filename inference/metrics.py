"""Benchmark figures from predictions. Pure numpy; no Django.

The distance buckets are those of seeds 001/002: % of guesses within 1, 25,
200, 750 and 2500 km.
"""

import numpy as np

from .geocells import haversine_km_np
from .placement import points

THRESHOLDS_KM = (1, 25, 200, 750, 2500)


def distance_summary(guesses, answers, scale_km):
    """median/mean km, mean points and % within each threshold for (N, 2) lat/lon arrays."""
    guesses = np.asarray(guesses, dtype=np.float64).reshape(-1, 2)
    answers = np.asarray(answers, dtype=np.float64).reshape(-1, 2)
    if len(guesses) == 0:
        raise ValueError("no predictions to summarise")
    km = haversine_km_np(guesses, answers)
    row = outcome_summary(km, points(km, scale_km))
    del row["n_answered"], row["accuracy"]
    return row


def outcome_summary(km, points_won, correct=None):
    """The figures of N scored answers: distance in km (NaN where no guess was made, e.g. a
    timeout), points, and whether the city was right (None where there is no city to name).

    Distance figures cover the answered trials (`n_answered`); accuracy, mean points and
    % within count a missing answer as a miss (0 points, not within any distance).
    """
    km = np.asarray(km, dtype=np.float64).reshape(-1)
    points_won = np.asarray(points_won, dtype=np.float64).reshape(-1)
    if len(km) == 0 or len(points_won) != len(km):
        raise ValueError("outcome_summary needs as many points as distances, at least one")
    answered = km[~np.isnan(km)]
    row = {
        "n": int(len(km)),
        "n_answered": int(len(answered)),
        "accuracy": None if correct is None else float(100.0 * np.mean(np.asarray(correct, dtype=bool))),
        "median_km": float(np.median(answered)) if len(answered) else None,
        "mean_km": float(np.mean(answered)) if len(answered) else None,
        "mean_points": float(np.mean(points_won)),
    }
    for t in THRESHOLDS_KM:
        row[f"within_{t}km"] = float(100.0 * np.mean(km <= t))
    return row


def accuracy(predicted, truth):
    """% of exact label matches (e.g. "City, Country")."""
    predicted, truth = list(predicted), list(truth)
    if len(predicted) != len(truth) or not truth:
        raise ValueError("accuracy needs equally many predictions and answers, at least one")
    return 100.0 * sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
