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
    row = {
        "n": int(len(km)),
        "median_km": float(np.median(km)),
        "mean_km": float(np.mean(km)),
        "mean_points": float(np.mean(points(km, scale_km))),
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
