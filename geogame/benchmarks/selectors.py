"""Reads for the staff's benchmark pages."""

from .models import BenchmarkReport
from .report import FIGURES, report_path

FIGURE_LABELS = {
    "accuracy": "accuracy %",
    "median_km": "median km",
    "mean_km": "mean km",
    "mean_points": "mean points",
    **{k: f"≤{k[len('within_') : -len('km')]} km %" for k in FIGURES if k.startswith("within_")},
}


def benchmark_reports():
    return BenchmarkReport.objects.select_related("map", "study")


def figure_text(value, ci=None):
    """ "83.3 [62.5–100.0]": a figure with its interval, or "-" where it does not apply."""
    if value is None:
        return "-"
    return f"{value:.1f}" + (f" [{ci[0]:.1f}–{ci[1]:.1f}]" if ci else "")


def benchmark_page(report):
    """The report page: its tables as text cells, its plots and files, its provenance."""
    data, provenance = report.data, report.provenance
    methods = [
        {
            **row,
            "cells": [figure_text(row[k], row[f"{k}_ci"]) for k in FIGURES] if row["available"] else None,
        }
        for row in data.get("methods", [])
    ]
    participants = [
        {
            **p,
            "practice_accuracy_text": figure_text(p["practice_accuracy"]),
            "practice_mean_points_text": figure_text(p["practice_mean_points"]),
            "test_accuracy_text": figure_text(p["test_accuracy"], p["test_accuracy_ci"]),
            "test_mean_points_text": figure_text(p["test_mean_points"], p["test_mean_points_ci"]),
            "test_median_km_text": figure_text(p["test_median_km"]),
        }
        for p in data.get("participants", [])
    ]
    per_city_methods = list(data.get("confusion", {}))
    accuracy = {(r["method"], r["city"]): r for r in data.get("per_city", [])}

    def city_cell(key):
        row = accuracy.get(key)
        return f"{row['accuracy']:.1f} ({row['correct']}/{row['n']})" if row else "-"

    per_city = [
        {"city": city, "cells": [city_cell((m, city)) for m in per_city_methods]}
        for city in sorted({r["city"] for r in data.get("per_city", [])})
    ]
    paired = [
        {
            **p,
            "difference_text": figure_text(p["difference"], p["difference_ci"]),
            "human_text": figure_text(p["human"]),
            "model_text": figure_text(p["model_value"]),
        }
        for p in data.get("paired", [])
    ]
    files = [name for name in report.files if report_path(report, name).is_file()]
    return {
        "report": report,
        "data": data,
        "provenance": provenance,
        "figure_labels": [FIGURE_LABELS[k] for k in FIGURES],
        "methods": methods,
        "participants": participants,
        "per_city_methods": per_city_methods,
        "per_city": per_city,
        "paired": paired,
        "plots": [n for n in files if n.endswith(".png")],
        "downloads": [n for n in files if not n.endswith(".png")],
        "players": sorted(provenance.get("players", {}).items()),
    }


def report_file(report, name):
    """The path of one of the report's files, or None: only names the report lists, so no
    name can reach outside its folder."""
    if name not in report.files:
        return None
    path = report_path(report, name)
    return path if path.is_file() else None
