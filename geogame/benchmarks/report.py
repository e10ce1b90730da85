"""Humans and machine players on the same test locations (`manage.py benchmark`).

The test locations are a study's `test_ids` (the locations its participants were tested on)
or, without a study, the map's test split. Every method is scored as the study's mode scores
a participant (geogame.game.scoring): in city mode a method names a city and earns 5000 points
when it is right, its distance being that city's centre's; in coordinate mode it drops a pin
and earns points by distance, and its "accuracy" is whether the city nearest its pin is the
location's city (None on maps without cities). A machine player is thus measured exactly as
if it had played the study.

report.json (BenchmarkReport.data holds the same, less `id` and `provenance`):

- `id`: the report's public id (report.json only); `schema`: this layout's version (1).
- `mode`: "city" or "coordinates", how answers were scored; `locations`: how many;
  `cities`: the map's "City, Country" labels; `bootstrap`: {n_resamples, seed, level, method}.
- `methods` (seed 003's Table 2 plus distances), one row per method, `humans` first:
  method, label, kind ("human", "machine", or "bot": a program on the bot API, misses scored 0),
  available, reason (why not, else null), n (answers scored), n_answered (not timed out),
  participants (humans), artefact_version (trained players), rating, rating_deviation and
  rating_games (machine players and bots: the Glicko-2 rating on this map of the artefact that
  played, from ranked duels and calibration, geogame.ranked; null before its first rated game), and
  every FIGURES key with `<key>_ci` = [low, high].
- `participants` (Table 1): participant, finished, practice_n, practice_accuracy,
  practice_mean_points, test_n, test_accuracy, test_accuracy_ci, test_mean_points,
  test_mean_points_ci, test_median_km, test_timed_out.
- `per_city`: rows {method, city, n, correct, accuracy} over true cities.
- `confusion`: {method: {rows: [true city], columns: [answered], counts: [[int]]}}.
- `prediction_distribution`: {method: {answered city: count}} and `truth` (locations per city).
- `paired`: per available machine player and metric ("accuracy" in % points, "points"):
  model, metric, locations, human_answers, human, model_value, difference (model - human),
  difference_ci, model_better, human_better, ties, sign_test_p (see stats.paired_comparison).
- `notes`: caveats in words (no study, no test answers yet, no cities).
- `provenance`: command, generated_at, map, study (counts, last answer), locations (source,
  ids, digest of ids, coordinates, cities and view hashes), human_rows (count, digest),
  players ({name: {available, reason, artefact}}), bootstrap.

Figures are null where they do not apply (accuracy without cities, distances with no answer).
"""

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from geogame.bots import rules as bot_rules
from geogame.bots import selectors as bot_selectors
from geogame.bots import services as bot_services
from geogame.common.csv_export import write_csv
from geogame.common.geo import haversine_km
from geogame.game import scoring
from geogame.game.models import Game
from geogame.game.selectors import city_centres
from geogame.maps.models import Location, Map
from geogame.maps.rules import city_label
from geogame.ranked import selectors as ranked_selectors
from geogame.studies import rules as study_rules
from geogame.studies.models import Study
from geogame.studies.rules import PRACTICE, TEST
from geogame.studies.selectors import study_rows
from inference.artefacts import ArtefactError
from inference.dataset import split_locations
from inference.metrics import THRESHOLDS_KM, outcome_summary
from inference.players import PlayerUnavailable
from inference.registry import PLAYERS, UnknownPlayer, availability, load_player, player_class
from inference.registry import artefact as artefact_key

from . import stats
from .models import BenchmarkReport, report_upload_to

SCHEMA = 1
HUMANS = "humans"
CI_LEVEL = 0.95
DEFAULT_RESAMPLES = 2000
MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000
FIGURES = ["accuracy", "median_km", "mean_km", "mean_points", *[f"within_{t}km" for t in THRESHOLDS_KM]]

ERR_UNKNOWN_MAP = "unknown map {slug!r}; maps: {known}"
ERR_UNKNOWN_STUDY = "unknown study {slug!r}; studies on this map: {known}"
ERR_OTHER_MAP = "study {slug!r} is on map {other!r}, not {map!r}"
ERR_NO_TEST_LOCATIONS = "map {slug} has no test locations with views: nothing to benchmark on"
ERR_STUDY_LOCATIONS_GONE = (
    "study {slug!r}: {missing} of its {total} test locations no longer exist or have no views"
)
ERR_BAD_RESAMPLES = f"--bootstrap must be a whole number from {MIN_RESAMPLES} to {MAX_RESAMPLES}"
ERR_BAD_SEED = "--seed must be a whole number, 0 or more"
ERR_NO_PLAYERS = "no players named; known players: " + ", ".join(PLAYERS)
NO_STUDY = "no study given: run with --study SLUG to compare with human participants"
NO_TEST_ANSWERS = (
    "no test answers yet: none of the study's {participants} participants has answered a test location"
)


class BenchmarkError(ValueError):
    pass


@dataclass
class Outcomes:
    """Scored answers of one method, one entry per answer."""

    location_ids: list
    truth: list  # the location's "City, Country" ("" without a city)
    answered: list  # the city answered ("" for none)
    km: np.ndarray  # NaN where no answer was given
    points: np.ndarray
    correct: np.ndarray | None  # None where accuracy does not apply
    groups: list | None = None  # the participant of each answer (humans)

    def figures(self, ix=None):
        ix = np.arange(len(self.km)) if ix is None else ix
        row = outcome_summary(
            self.km[ix], self.points[ix], None if self.correct is None else self.correct[ix]
        )
        return {k: row[k] for k in FIGURES}


@dataclass
class Scoring:
    """How answers on this benchmark are scored (see the module docstring)."""

    mode: str
    scale_km: float
    centres: dict  # "City, Country" -> (lat, lon)
    has_cities: bool

    def nearest_city(self, lat, lon):
        return min(self.centres, key=lambda c: haversine_km(lat, lon, *self.centres[c]))


def _parse_players(names):
    names = list(dict.fromkeys(n.strip() for n in (names or PLAYERS) if n.strip()))
    if not names:
        raise BenchmarkError(ERR_NO_PLAYERS)
    for name in names:
        try:
            bot_selectors.bot_named(name) if _is_bot(name) else player_class(name)
        except UnknownPlayer as exc:
            raise BenchmarkError(str(exc)) from None
    return names


def _is_bot(name):
    return name.startswith(bot_rules.NAME_PREFIX)


@dataclass
class BotAnswer:
    """A bot's stored pin, shaped as a player's Prediction for machine_outcomes."""

    lat: float
    lon: float
    city: str


def _bot_predictions(name, m, locations, sc):
    """(reason it cannot play or None, [BotAnswer or None for a miss]): the bot plays the locations
    over the bot API (geogame.bots.services.bot_benchmark_guesses), one timed round each."""
    bot = bot_selectors.bot_named(name)
    reason = bot_selectors.unavailable_reason(bot)
    if reason:
        return reason, None
    guesses = bot_services.bot_benchmark_guesses(
        bot=bot, m=m, locations=locations, round_s=settings.GEOGAME_BOT_BENCHMARK_ROUND_S
    )
    return None, [
        None if g is None else BotAnswer(g.lat, g.lon, sc.nearest_city(g.lat, g.lon) if sc.has_cities else "")
        for g in guesses
    ]


def benchmark_inputs(*, map_slug, study_slug=None):
    """(map, study or None, test locations), or BenchmarkError saying what is wrong."""
    m = Map.objects.filter(slug=map_slug).first()
    if m is None:
        known = ", ".join(Map.objects.order_by("slug").values_list("slug", flat=True)) or "none"
        raise BenchmarkError(ERR_UNKNOWN_MAP.format(slug=map_slug, known=known))
    study = None
    if study_slug is not None:
        study = Study.objects.filter(slug=study_slug).select_related("map").first()
        if study is None:
            known = ", ".join(m.studies.order_by("slug").values_list("slug", flat=True)) or "none"
            raise BenchmarkError(ERR_UNKNOWN_STUDY.format(slug=study_slug, known=known))
        if study.map_id != m.id:
            raise BenchmarkError(ERR_OTHER_MAP.format(slug=study.slug, other=study.map.slug, map=m.slug))
        locations = list(
            Location.objects.filter(id__in=study.test_ids, views__isnull=False)
            .distinct()
            .order_by("id")
            .prefetch_related("views")
        )
        if len(locations) != len(study.test_ids):
            missing = len(study.test_ids) - len(locations)
            raise BenchmarkError(
                ERR_STUDY_LOCATIONS_GONE.format(slug=study.slug, missing=missing, total=len(study.test_ids))
            )
    else:
        locations = split_locations(m, Location.TEST)
    if not locations:
        raise BenchmarkError(ERR_NO_TEST_LOCATIONS.format(slug=m.slug))
    return m, study, locations


def _scoring(m, study, locations):
    centres = city_centres(m)
    has_cities = len(centres) >= 2 and all(loc.city for loc in locations)
    if study is not None:
        mode = study.mode
    else:
        mode = Game.CITY if m.kind == Map.CITY and has_cities else Game.COORDINATES
    return Scoring(mode=mode, scale_km=m.scale_km, centres=centres, has_cities=has_cities)


def _truth(loc):
    return city_label(loc.city, loc.country) if loc.city else ""


def machine_outcomes(predictions, locations, sc):
    """Score a player's predictions as the benchmark's mode scores a participant."""
    km, pts, answered, correct = [], [], [], []
    for p, loc in zip(predictions, locations, strict=True):
        truth = _truth(loc)
        if p is None:  # a bot's missed deadline: no answer, 0 points, as a participant's timeout
            km.append(np.nan)
            pts.append(0)
            answered.append("")
            correct.append(False)
            continue
        if sc.mode == Game.CITY:
            score = scoring.score_city_guess(
                answer=(loc.lat, loc.lon),
                answer_city=truth,
                chosen_city=p.city,
                chosen_centre=sc.centres[p.city],
            )
            city = p.city
        else:
            score = scoring.score_guess(answer=(loc.lat, loc.lon), guess=(p.lat, p.lon), scale_km=sc.scale_km)
            city = sc.nearest_city(p.lat, p.lon) if sc.has_cities else ""
        km.append(score.distance_km)
        pts.append(score.points)
        answered.append(city)
        correct.append(city == truth)
    return Outcomes(
        location_ids=[loc.id for loc in locations],
        truth=[_truth(loc) for loc in locations],
        answered=answered,
        km=np.array(km, dtype=np.float64),
        points=np.array(pts, dtype=np.float64),
        correct=np.array(correct, dtype=bool) if sc.has_cities else None,
    )


def human_outcomes(rows, sc):
    """Outcomes of study rows as stored; a timed-out answer is wrong, 0 points, no distance."""
    answered = []
    for r in rows:
        if r["timed_out"] or r["guess_lat"] is None:
            answered.append("")
        elif sc.mode == Game.CITY:
            answered.append(r["guess_city"])
        else:
            answered.append(sc.nearest_city(r["guess_lat"], r["guess_lon"]) if sc.has_cities else "")
    truth = [r["answer_city"] for r in rows]
    return Outcomes(
        location_ids=[r["location_id"] for r in rows],
        truth=truth,
        answered=answered,
        km=np.array(
            [np.nan if r["distance_km"] is None else r["distance_km"] for r in rows], dtype=np.float64
        ),
        points=np.array([r["points"] for r in rows], dtype=np.float64),
        correct=(
            np.array([a == t and a != "" for a, t in zip(answered, truth, strict=True)], dtype=bool)
            if sc.has_cities
            else None
        ),
        groups=[r["participant"] for r in rows],
    )


@dataclass
class Bootstrap:
    n_resamples: int
    seed: int
    level: float = CI_LEVEL

    def figures_ci(self, outcomes, grouped=False):
        """Point figures and their intervals; humans resampled two-stage by participant."""
        point = outcomes.figures()
        cis = stats.bootstrap_ci(
            outcomes.figures,
            len(outcomes.km),
            groups=outcomes.groups if grouped else None,
            n_resamples=self.n_resamples,
            seed=self.seed,
            level=self.level,
        )
        row = {}
        for key in FIGURES:
            row[key] = point[key]
            row[f"{key}_ci"] = cis[key] if point[key] is not None else None
        return row

    def as_dict(self):
        return {
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "level": self.level,
            "method": "percentile; machine players: locations resampled; humans: participants, "
            "then each one's answers, resampled (two-stage)",
        }


def _empty_figures():
    return {k: v for key in FIGURES for k, v in ((key, None), (f"{key}_ci", None))}


def _method_row(method, kind, label, *, available=True, reason=None, **extra):
    return {
        "method": method,
        "label": label,
        "kind": kind,
        "available": available,
        "reason": reason,
        "n": None,
        "n_answered": None,
        "participants": None,
        "artefact_version": None,
        "rating": None,
        "rating_deviation": None,
        "rating_games": None,
        **_empty_figures(),
        **extra,
    }


def _people(study, include_pilot=False):
    """The study's participants in joining order; staff pilot runs only when asked for."""
    people = study.participants.order_by("created_at", "id")
    return people if include_pilot else people.filter(pilot=False)


def _exclusions(study, rows, include_pilot=False):
    """({participant: [rules failed]}, summary) under the study's pre-declared exclusion rules."""
    finished = {str(p.public_id): p.finished_at is not None for p in _people(study, include_pilot)}
    excluded = study_rules.exclusions(rows, finished, study.exclusion_rules)
    summary = {
        "rules": study.exclusion_rules,
        "participants": len(finished),
        "excluded": len(excluded),
        "included": len(finished) - len(excluded),
        "by_rule": [
            {
                "rule": rule,
                "threshold": study.exclusion_rules[rule],
                "meaning": study_rules.EXCLUSION_RULES[rule],
                "participants": sum(rule in reasons for reasons in excluded.values()),
            }
            for rule in study.exclusion_rules
        ],
    }
    return excluded, summary


def _participants_table(study, rows, sc, boot, excluded=None, include_pilot=False):
    """Table 1 of seed 003: every participant's practice and test figures, and the exclusion rules
    that left them out of the human figures."""
    table = []
    excluded = excluded or {}
    for p in _people(study, include_pilot):
        pid = str(p.public_id)
        own = [r for r in rows if r["participant"] == pid]
        row = {
            "participant": pid,
            "finished": p.finished_at is not None,
            "excluded_by": excluded.get(pid, []),
        }
        for phase in (PRACTICE, TEST):
            phase_rows = [r for r in own if r["phase"] == phase]
            figures = human_outcomes(phase_rows, sc).figures() if phase_rows else dict.fromkeys(FIGURES)
            row.update(
                {
                    f"{phase}_n": len(phase_rows),
                    f"{phase}_accuracy": figures["accuracy"],
                    f"{phase}_mean_points": figures["mean_points"],
                }
            )
        test = [r for r in own if r["phase"] == TEST]
        row.update(test_accuracy_ci=None, test_mean_points_ci=None, test_median_km=None, test_timed_out=0)
        if test:
            o = human_outcomes(test, sc)
            cis = stats.bootstrap_ci(
                lambda ix, o=o: {
                    "accuracy": None if o.correct is None else 100.0 * float(np.mean(o.correct[ix])),
                    "mean_points": float(np.mean(o.points[ix])),
                },
                len(test),
                n_resamples=boot.n_resamples,
                seed=boot.seed,
                level=boot.level,
            )
            row.update(
                test_accuracy_ci=cis["accuracy"],
                test_mean_points_ci=cis["mean_points"],
                test_median_km=o.figures()["median_km"],
                test_timed_out=sum(1 for r in test if r["timed_out"]),
            )
        table.append(row)
    return table


def _per_city(method, outcomes):
    return [
        {"method": method, "city": city, "n": n, "correct": k, "accuracy": 100.0 * k / n}
        for city, (n, k) in stats.accuracy_by_label(outcomes.truth, outcomes.correct).items()
    ]


def _confusion(outcomes, sc):
    rows = sorted(set(outcomes.truth))
    columns, counts = stats.confusion_matrix(outcomes.truth, outcomes.answered, list(sc.centres))
    keep = [list(sc.centres).index(r) for r in rows]
    return {"rows": rows, "columns": columns, "counts": [counts[i] for i in keep]}


def _paired(name, machine, human, sc, boot):
    """Per location: the humans' mean outcome there against the model's outcome there."""
    by_location = {}
    for i, loc_id in enumerate(human.location_ids):
        by_location.setdefault(loc_id, []).append(i)
    model_at = {loc_id: i for i, loc_id in enumerate(machine.location_ids)}
    ids = [loc_id for loc_id in machine.location_ids if loc_id in by_location]
    metrics = ([("accuracy", 100.0)] if sc.has_cities else []) + [("points", 1.0)]
    out = []
    for metric, scale in metrics:
        h_values = human.correct if metric == "accuracy" else human.points
        m_values = machine.correct if metric == "accuracy" else machine.points
        result = stats.paired_comparison(
            [scale * np.mean(h_values[by_location[i]]) for i in ids],
            [scale * float(m_values[model_at[i]]) for i in ids],
            n_resamples=boot.n_resamples,
            seed=boot.seed,
            level=boot.level,
        )
        result["model_value"] = result.pop("model")
        out.append(
            {
                "model": name,
                "metric": metric,
                "human_answers": sum(len(by_location[i]) for i in ids),
                **result,
            }
        )
    return out


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _artefact(name, m, player):
    cls = type(player)
    info = {"class": f"{cls.__module__}.{cls.__qualname__}", "version_key": cls.version_key(m)}
    trained = getattr(player, "trained", None)
    if trained is not None:
        info.update(
            version=trained.version,
            trained_model_id=trained.id,
            directory=trained.directory,
            trained_at=trained.finished_at.isoformat() if trained.finished_at else None,
            backbone=player.meta.get("backbone"),
        )
    return info


def _rating(name, m, artefact):
    """The method row's rating fields: the rating on `m` of machine `name`'s `artefact`, if rated."""
    row = ranked_selectors.machine_rating(name, m, artefact)
    if row is None:
        return {}
    return {"rating": row["rating"], "rating_deviation": row["deviation"], "rating_games": row["games"]}


def _study_provenance(study, rows, include_pilot=False):
    if study is None:
        return None
    answered_at = [r["answered_at"] for r in rows]
    return {
        "id": study.id,
        "slug": study.slug,
        "name": study.name,
        "mode": study.mode,
        "seed": study.seed,
        "practice_count": study.practice_count,
        "test_count": study.test_count,
        "participants": _people(study, include_pilot).count(),
        "include_pilot": include_pilot,
        "participants_with_test_answers": len({r["participant"] for r in rows if r["phase"] == TEST}),
        "answers": {phase: sum(1 for r in rows if r["phase"] == phase) for phase in (PRACTICE, TEST)},
        "last_answer_at": max(answered_at) if answered_at else None,
    }


def build_report(*, m, study, locations, names, boot, command="", include_pilot=False):
    """(data, provenance, {method: Outcomes}) of a benchmark; no files, no rows written.

    1. Score the humans' stored test answers and each available player's predictions on
       the same locations, the same way.
    2. Table 2 (methods), Table 1 (participants), per city, confusion, prediction counts.
    3. Intervals (seeded bootstrap) and the paired human-vs-model comparisons.
    """
    sc = _scoring(m, study, locations)
    rows = study_rows(study, include_pilot) if study is not None else []
    excluded, exclusion_summary = {}, None
    if study is not None:
        excluded, exclusion_summary = _exclusions(study, rows, include_pilot)
    # Catch trials are no test locations; excluded participants (the study's declared rules) count
    # nowhere but in Table 1, which says why they were left out.
    table_rows = [r for r in rows if not r["catch_trial"]]
    rows = [r for r in table_rows if r["participant"] not in excluded]
    test_rows = [r for r in rows if r["phase"] == TEST]
    notes = []
    methods, outcomes, players = [], {}, {}

    label = "Human benchmark"
    if study is None:
        notes.append(NO_STUDY)
        methods.append(_method_row(HUMANS, "human", label, available=False, reason=NO_STUDY))
    elif not test_rows:
        reason = NO_TEST_ANSWERS.format(participants=_people(study, include_pilot).count())
        notes.append(reason)
        methods.append(_method_row(HUMANS, "human", label, available=False, reason=reason))
    else:
        human = human_outcomes(test_rows, sc)
        outcomes[HUMANS] = human
        participants = len(set(human.groups))
        methods.append(
            _method_row(
                HUMANS,
                "human",
                f"{label} ({participants} participant{'s' if participants != 1 else ''})",
                n=len(test_rows),
                n_answered=int(np.sum(~np.isnan(human.km))),
                participants=participants,
                **boot.figures_ci(human, grouped=True),
            )
        )

    for name in names:
        if _is_bot(name):
            reason, predictions = _bot_predictions(name, m, locations, sc)
            if reason is not None:
                players[name] = {"available": False, "reason": reason, "artefact": None}
                methods.append(_method_row(name, "bot", name, available=False, reason=reason))
                continue
            outcomes[name] = machine_outcomes(predictions, locations, sc)
            players[name] = {"available": True, "reason": None, "artefact": None}
            answered = sum(p is not None for p in predictions)
            methods.append(
                _method_row(
                    name,
                    "bot",
                    name,
                    n=len(locations),
                    n_answered=answered,
                    **_rating(name, m, ""),
                    **boot.figures_ci(outcomes[name]),
                )
            )
            continue
        reason = availability(name, m)
        player = None
        if reason is None:
            try:
                player = load_player(name, m)
                predictions = player.predict(locations)
            except (ArtefactError, PlayerUnavailable) as exc:
                reason = str(exc)
        if reason is not None:
            players[name] = {"available": False, "reason": reason, "artefact": None}
            methods.append(_method_row(name, "machine", name, available=False, reason=reason))
            continue
        machine = machine_outcomes(predictions, locations, sc)
        outcomes[name] = machine
        artefact = _artefact(name, m, player)
        players[name] = {"available": True, "reason": None, "artefact": artefact}
        methods.append(
            _method_row(
                name,
                "machine",
                name,
                n=len(locations),
                n_answered=len(locations),
                artefact_version=artefact.get("version"),
                **_rating(name, m, artefact_key(name, m)),
                **boot.figures_ci(machine),
            )
        )

    truth = [_truth(loc) for loc in locations]
    per_city, confusion, distribution, paired = [], {}, {}, []
    if sc.has_cities:
        distribution["truth"] = stats.prediction_distribution(truth, list(sc.centres))
        for name, o in outcomes.items():
            per_city += _per_city(name, o)
            confusion[name] = _confusion(o, sc)
            distribution[name] = stats.prediction_distribution(o.answered, list(sc.centres))
    else:
        notes.append("the test locations do not all have a city: no accuracy, per-city or confusion figures")
    if HUMANS in outcomes:
        for name, o in outcomes.items():
            if name != HUMANS:
                paired += _paired(name, o, outcomes[HUMANS], sc, boot)

    data = {
        "schema": SCHEMA,
        "mode": sc.mode,
        "locations": len(locations),
        "cities": list(sc.centres),
        "bootstrap": boot.as_dict(),
        "methods": methods,
        "participants": _participants_table(study, table_rows, sc, boot, excluded, include_pilot)
        if study is not None
        else [],
        "exclusions": exclusion_summary,
        "per_city": per_city,
        "confusion": confusion,
        "prediction_distribution": distribution,
        "paired": paired,
        "notes": notes,
    }
    location_facts = [
        [loc.id, loc.lat, loc.lon, _truth(loc), sorted(v.sha256 for v in loc.views.all())]
        for loc in locations
    ]
    provenance = {
        "command": command,
        "generated_at": timezone.now().isoformat(),
        "map": {"id": m.id, "slug": m.slug, "name": m.name, "kind": m.kind, "scale_km": m.scale_km},
        "study": _study_provenance(study, rows, include_pilot),
        "locations": {
            "source": "the study's test locations" if study is not None else "the map's test split",
            "count": len(locations),
            "ids": [loc.id for loc in locations],
            "digest": _digest(location_facts),
        },
        "human_rows": {
            "count": len(rows),
            "digest": _digest(
                [
                    [r["participant"], r["trial"], r["location_id"], r["guess_lat"], r["guess_lon"]]
                    + [r["guess_city"], r["points"], r["correct"], r["timed_out"]]
                    for r in rows
                ]
            ),
        },
        "players": players,
        "bootstrap": boot.as_dict(),
    }
    return data, provenance, outcomes


def report_path(report, name=""):
    return Path(settings.MEDIA_ROOT) / report_upload_to(report, name)


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        write_csv(f, header, rows)


def _ci_columns(key):
    return [key, f"{key}_ci_low", f"{key}_ci_high"]


def _ci_cells(row, key):
    ci = row.get(f"{key}_ci")
    return [row.get(key), *(ci if ci else [None, None])]


def write_files(directory, report_id, data, provenance, outcomes):
    """report.json, the CSV tables (answers.csv: every scored answer of every method) and
    the plots; returns their names."""
    from . import plots

    directory.mkdir(parents=True, exist_ok=True)
    names = []

    def out(name):
        names.append(name)
        return directory / name

    out("report.json").write_text(json.dumps({"id": report_id, **data, "provenance": provenance}, indent=1))
    meta = [
        "method",
        "label",
        "kind",
        "available",
        "reason",
        "n",
        "n_answered",
        "participants",
        "artefact_version",
        "rating",
        "rating_deviation",
        "rating_games",
    ]
    _write_csv(
        out("methods.csv"),
        meta + [c for key in FIGURES for c in _ci_columns(key)],
        [[r[k] for k in meta] + [c for key in FIGURES for c in _ci_cells(r, key)] for r in data["methods"]],
    )
    if data["participants"]:
        _write_csv(
            out("participants.csv"),
            ["participant", "finished", "practice_n", "practice_accuracy", "practice_mean_points", "test_n"]
            + _ci_columns("test_accuracy")
            + _ci_columns("test_mean_points")
            + ["test_median_km", "test_timed_out"],
            [
                [r[k] for k in ("participant", "finished", "practice_n", "practice_accuracy")]
                + [r["practice_mean_points"], r["test_n"]]
                + _ci_cells(r, "test_accuracy")
                + _ci_cells(r, "test_mean_points")
                + [r["test_median_km"], r["test_timed_out"]]
                for r in data["participants"]
            ],
        )
    if data.get("exclusions"):
        header = ["rule", "threshold", "meaning", "participants"]
        _write_csv(
            out("exclusions.csv"), header, [[r[k] for k in header] for r in data["exclusions"]["by_rule"]]
        )
    if data["per_city"]:
        header = ["method", "city", "n", "correct", "accuracy"]
        _write_csv(out("per_city.csv"), header, [[r[k] for k in header] for r in data["per_city"]])
    if data["confusion"]:
        _write_csv(
            out("confusion.csv"),
            ["method", "true_city", "answered", "count"],
            [
                [method, true_city, column, count]
                for method, c in data["confusion"].items()
                for true_city, counts in zip(c["rows"], c["counts"], strict=True)
                for column, count in zip(c["columns"], counts, strict=True)
            ],
        )
    if data["paired"]:
        header = ["model", "metric", "locations", "human_answers", "human", "model_value", "difference"]
        tail = ["model_better", "human_better", "ties", "sign_test_p"]
        _write_csv(
            out("paired.csv"),
            header + ["difference_ci_low", "difference_ci_high"] + tail,
            [
                [r[k] for k in header] + list(r["difference_ci"]) + [r[k] for k in tail]
                for r in data["paired"]
            ],
        )
    _write_csv(
        out("answers.csv"),
        ["method", "participant", "location_id", "true_city", "answered", "distance_km", "points", "correct"],
        [
            [method, o.groups[i] if o.groups else "", o.location_ids[i], o.truth[i], o.answered[i]]
            + [None if np.isnan(o.km[i]) else float(o.km[i]), int(o.points[i])]
            + [None if o.correct is None else bool(o.correct[i])]
            for method, o in outcomes.items()
            for i in range(len(o.km))
        ],
    )

    shown = [r for r in data["methods"] if r["available"]]
    labels = [r["label"] for r in shown]
    humans = [r["label"] for r in shown if r["kind"] == "human"]
    title = f"{provenance['map']['name']}, {data['locations']} test locations"
    if shown and shown[0]["accuracy"] is not None:
        plots.bars_with_ci(
            out("accuracy.png"),
            labels,
            [r["accuracy"] for r in shown],
            [r["accuracy_ci"] for r in shown],
            xlabel="accuracy, % (95% bootstrap interval)",
            title=f"Accuracy: {title}",
            human=humans,
            xmax=105,
        )
    if shown:
        plots.bars_with_ci(
            out("mean_points.png"),
            labels,
            [r["mean_points"] for r in shown],
            [r["mean_points_ci"] for r in shown],
            xlabel="mean points per location (95% bootstrap interval)",
            title=f"Mean points: {title}",
            human=humans,
            xmax=scoring.MAX_POINTS * 1.1,
        )
    if data["per_city"]:
        cities = sorted({r["city"] for r in data["per_city"]})
        acc = {(r["method"], r["city"]): r["accuracy"] for r in data["per_city"]}
        plots.grouped_bars(
            out("per_city.png"),
            cities,
            {m: [acc.get((m, c)) for c in cities] for m in data["confusion"]},
            ylabel="accuracy, %",
            title="Accuracy per true city",
            ymax=110,
            human=[HUMANS],
        )
        dist = data["prediction_distribution"]
        columns = list(dist["truth"]) + (
            [stats.NO_ANSWER] if any(stats.NO_ANSWER in d for d in dist.values()) else []
        )
        plots.grouped_bars(
            out("predictions.png"),
            columns,
            {
                ("true share" if m == "truth" else m): [
                    100.0 * d.get(c, 0) / max(1, sum(d.values())) for c in columns
                ]
                for m, d in dist.items()
            },
            ylabel="% of answers",
            title="How often each city is answered",
            human=[HUMANS],
            reference=["true share"],
        )
        for method, c in data["confusion"].items():
            plots.confusion_heatmap(
                out(f"confusion_{method}.png"),
                c["rows"],
                c["columns"],
                c["counts"],
                title=f"Confusion: {method}",
            )
    if data["mode"] == Game.COORDINATES and outcomes:
        plots.distance_cdf(
            out("distance_cdf.png"),
            {next(r["label"] for r in shown if r["method"] == k): o.km for k, o in outcomes.items()},
            THRESHOLDS_KM,
            title=f"Share of answers within a distance: {title}",
            human=humans,
        )
    return names


def benchmark_run(
    *,
    map_slug,
    study_slug=None,
    players=None,
    n_resamples=DEFAULT_RESAMPLES,
    seed=0,
    command="",
    include_pilot=False,
):
    """Evaluate, write the files under MEDIA_ROOT/reports/<id>/ and store the BenchmarkReport.

    Files are written before the row is saved and removed if anything fails, so a stored
    report always has its files. `include_pilot`: count staff pilot runs as participants (never by
    default)."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int):
        raise BenchmarkError(ERR_BAD_RESAMPLES)
    if not MIN_RESAMPLES <= n_resamples <= MAX_RESAMPLES:
        raise BenchmarkError(ERR_BAD_RESAMPLES)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BenchmarkError(ERR_BAD_SEED)
    names = _parse_players(players)
    m, study, locations = benchmark_inputs(map_slug=map_slug, study_slug=study_slug)
    boot = Bootstrap(n_resamples=n_resamples, seed=seed)
    data, provenance, outcomes = build_report(
        m=m,
        study=study,
        locations=locations,
        names=names,
        boot=boot,
        command=command,
        include_pilot=include_pilot,
    )
    report = BenchmarkReport(public_id=uuid.uuid4(), map=m, study=study, data=data, provenance=provenance)
    directory = report_path(report)
    try:
        report.files = write_files(directory, str(report.public_id), data, provenance, outcomes)
        report.save()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return report


def report_url(report):
    return reverse("benchmark-report", args=[report.public_id])


REBUILT_NOTE = (
    "Rebuilt on {date} without the {count} participant(s) who withdrew after the report was first made: "
    "every figure is recomputed from the answers kept, with the same players, bootstrap and seed."
)


def report_settings(report):
    """What a report was made with: map, study, players (in their order), bootstrap, pilots."""
    data, provenance = report.data, report.provenance
    return {
        "map_slug": report.map.slug,
        "study_slug": report.study.slug if report.study_id else None,
        "players": [r["method"] for r in data.get("methods", []) if r.get("kind") != "human"],
        "n_resamples": data["bootstrap"]["n_resamples"],
        "seed": data["bootstrap"]["seed"],
        "include_pilot": bool((provenance.get("study") or {}).get("include_pilot")),
        "command": provenance.get("command", ""),
    }


def report_rebuild(*, report_id, now=None):
    """Rebuild a report that a withdrawal superseded, in place (same id and address), with the
    settings it was made with. Returns the report, or None when there was nothing to do.

    1. Nothing to do when the report is gone or not superseded (a redelivered task finds it rebuilt).
    2. Note how many withdrawals it has seen; compute the report and write its files into a new
       folder, holding no lock (machine players may take a while).
    3. Lock the row. If another withdrawal came meanwhile (the count moved), drop this build: that
       withdrawal queued its own rebuild. Else swap the new folder in, store the figures, and clear
       the superseded mark."""
    report = BenchmarkReport.objects.select_related("map", "study").filter(id=report_id).first()
    if report is None or report.superseded_at is None or report.study_id is None:
        return None
    seen = report.withdrawn_since
    settings_ = report_settings(report)
    m, study, locations = benchmark_inputs(map_slug=settings_["map_slug"], study_slug=settings_["study_slug"])
    boot = Bootstrap(n_resamples=settings_["n_resamples"], seed=settings_["seed"])
    data, provenance, outcomes = build_report(
        m=m,
        study=study,
        locations=locations,
        names=_parse_players(settings_["players"]),
        boot=boot,
        command=settings_["command"],
        include_pilot=settings_["include_pilot"],
    )
    now = now or timezone.now()
    data["notes"].append(REBUILT_NOTE.format(date=now.date().isoformat(), count=seen))
    provenance["rebuilt_at"] = now.isoformat()
    folder = report_path(report)
    fresh = folder.with_name(f"{folder.name}.rebuild-{uuid.uuid4().hex}")
    try:
        files = write_files(fresh, str(report.public_id), data, provenance, outcomes)
        with transaction.atomic():
            locked = BenchmarkReport.objects.select_for_update().get(id=report.id)
            if locked.superseded_at is None or locked.withdrawn_since != seen:
                return None  # rebuilt already, or another withdrawal came: its own rebuild follows
            old = folder.with_name(f"{folder.name}.old-{uuid.uuid4().hex}")
            if folder.exists():
                folder.rename(old)
            fresh.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
            BenchmarkReport.objects.filter(id=report.id).update(
                data=data,
                provenance=provenance,
                files=files,
                superseded_at=None,
                superseded_reason="",
                rebuilt_at=now,
            )
    finally:
        shutil.rmtree(fresh, ignore_errors=True)  # a dropped build's folder
    report.refresh_from_db()
    return report
