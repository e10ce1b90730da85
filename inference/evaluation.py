"""Evaluating machine players on a split of a map: the tables of the README."""

import numpy as np

from geogame.maps.models import Location
from geogame.maps.rules import city_label

from .dataset import split_locations
from .metrics import THRESHOLDS_KM, accuracy, distance_summary
from .registry import PLAYERS, availability, load_player

COLUMNS = [
    "player",
    "n",
    "accuracy",
    "median_km",
    "mean_points",
    *[f"within_{t}km" for t in THRESHOLDS_KM],
    "top_pin_mean_points",
    "top_pin_median_km",
]


def evaluate_players(m, names=None, split=Location.TEST):
    """One row per player: accuracy (city maps), distance figures, and for class-based
    players the same figures for the naive top-class pin. Unavailable players get a row
    with their reason instead of figures."""
    names = list(names or PLAYERS)
    locations = split_locations(m, split)
    if not locations:
        raise ValueError(f"map {m.slug} has no {split} locations")
    answers = np.array([(loc.lat, loc.lon) for loc in locations])
    truth = [city_label(loc.city, loc.country) for loc in locations]
    has_cities = all(loc.city for loc in locations)
    rows = []
    for name in names:
        reason = availability(name, m)
        if reason:
            rows.append({"player": name, "available": reason})
            continue
        preds = load_player(name, m).predict(locations)
        row = {"player": name, "available": None}
        row.update(distance_summary([(p.lat, p.lon) for p in preds], answers, m.scale_km))
        row["accuracy"] = accuracy([p.city for p in preds], truth) if has_cities else None
        if all(p.top_lat is not None for p in preds):
            top = distance_summary([(p.top_lat, p.top_lon) for p in preds], answers, m.scale_km)
            row["top_pin_mean_points"] = top["mean_points"]
            row["top_pin_median_km"] = top["median_km"]
        rows.append(row)
    return rows


def format_table(rows):
    """A plain-text table (also valid Markdown) of evaluate_players' rows."""

    def cell(row, col):
        v = row.get(col)
        if v is None:
            return "-"
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    header = "| " + " | ".join(COLUMNS) + " |"
    lines = [header, "|" + "---|" * len(COLUMNS)]
    notes = []
    for row in rows:
        if row.get("available"):
            notes.append(f"{row['player']}: unavailable ({row['available']})")
            continue
        lines.append("| " + " | ".join(cell(row, c) for c in COLUMNS) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))
