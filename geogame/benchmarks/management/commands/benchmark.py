import shlex

from django.core.management.base import BaseCommand, CommandError

from geogame.benchmarks.report import DEFAULT_RESAMPLES, FIGURES, BenchmarkError, benchmark_run, report_url
from inference.registry import PLAYERS


def _figure(value, ci=None):
    if value is None:
        return "-"
    return f"{value:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


class Command(BaseCommand):
    help = (
        "Humans (a study's participants) and machine players on the same test locations: "
        "accuracy, distances, per-city accuracy, confusion, 95% bootstrap intervals, paired "
        "comparisons. Writes a report page with CSV/JSON files and plots."
    )

    def add_arguments(self, parser):
        parser.add_argument("map", help="map slug")
        parser.add_argument("--study", help="study slug: its test locations and its participants' answers")
        parser.add_argument("--players", default=",".join(PLAYERS), help="comma-separated (default: all)")
        parser.add_argument(
            "--bootstrap", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples per interval"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
        parser.add_argument(
            "--include-pilot", action="store_true", help="count the study's staff pilot runs as participants"
        )

    def handle(self, *args, map, study, players, bootstrap, seed, include_pilot, **options):
        command = "manage.py benchmark " + shlex.join(
            [map, *(["--study", study] if study else []), "--players", players]
            + ["--bootstrap", str(bootstrap), "--seed", str(seed)]
            + (["--include-pilot"] if include_pilot else [])
        )
        try:
            report = benchmark_run(
                map_slug=map,
                study_slug=study,
                players=players.split(","),
                n_resamples=bootstrap,
                seed=seed,
                command=command,
                include_pilot=include_pilot,
            )
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from None
        data = report.data
        lines = [
            f"map {report.map.slug}"
            + (f", study {report.study.slug}" if report.study else "")
            + f": {data['locations']} test locations, scored in {data['mode']} mode; "
            f"[95% bootstrap interval, {bootstrap} resamples, seed {seed}]",
            "",
            "| method | n | " + " | ".join(FIGURES) + " |",
            "|" + "---|" * (len(FIGURES) + 2),
        ]
        for row in data["methods"]:
            if not row["available"]:
                lines.append(f"| {row['label']} | - | unavailable: {row['reason']} |")
                continue
            cells = [_figure(row[k], row[f"{k}_ci"]) for k in FIGURES]
            lines.append(f"| {row['label']} | {row['n']} | " + " | ".join(cells) + " |")
        rated = [r for r in data["methods"] if r["kind"] != "human" and r["available"]]
        if rated:
            lines += ["", "| method | rating (Glicko-2) | deviation | rated games |", "|---|---|---|---|"]
            for row in rated:
                if row.get("rating_games"):
                    figures = f"{row['rating']} | ± {row['rating_deviation']} | {row['rating_games']}"
                    lines.append(f"| {row['label']} | {figures} |")
                else:
                    lines.append(f"| {row['label']} | not rated yet | - | 0 |")
        if data["participants"]:
            lines += [
                "",
                "| participant | practice n | practice accuracy | test n | test accuracy "
                "| test mean points |",
                "|---|---|---|---|---|---|",
            ]
            for p in data["participants"]:
                lines.append(
                    f"| {p['participant']} | {p['practice_n']} | {_figure(p['practice_accuracy'])} | "
                    f"{p['test_n']} | {_figure(p['test_accuracy'], p['test_accuracy_ci'])} | "
                    f"{_figure(p['test_mean_points'], p['test_mean_points_ci'])} |"
                )
        for p in data["paired"]:
            lines.append(
                f"{p['model']} - humans, {p['metric']}: {_figure(p['difference'], p['difference_ci'])} "
                f"over {p['locations']} locations (model better at {p['model_better']}, humans at "
                f"{p['human_better']}; sign test p = {p['sign_test_p']:.3g})"
            )
        lines += [f"note: {n}" for n in data["notes"]]
        lines += ["", f"report: {report_url(report)}"]
        self.stdout.write("\n".join(lines))
