"""Study reads: what a participant's page may see, the staff's progress page and the export."""

import hashlib
import json

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from geogame.game.models import Game, Guess
from geogame.game.selectors import game_state
from geogame.maps.models import Location
from geogame.maps.rules import city_label
from players.sessions import study_participant_ids

from . import rules as study_rules
from .models import Participant, Study, Trial


def answers_shown(study, index):
    if study_rules.phase_of(index, study.practice_count) == study_rules.PRACTICE:
        return study.answers_after_practice
    return study.answers_after_test


def views_per_location_text(study):
    """How many views the study's locations have, in words for the instructions (rules.views_text)."""
    counts = (
        Location.objects.filter(id__in=[*study.practice_ids, *study.test_ids, *study.catch_ids])
        .annotate(n=Count("views"))
        .values_list("n", flat=True)
    )
    return study_rules.views_text(counts)


def participant_plays_game(tokens, game_id):
    """Whether one of these participants (their resume tokens, a session's) plays the game: may see
    its images."""
    return bool(tokens) and Participant.objects.filter(game_id=game_id, resume_token__in=tokens).exists()


def study_state(participant, current_round):
    """The play page's state (geogame.game.selectors.game_state) for a participant's trial.

    Test-phase answers are replaced by a bare "recorded" note when the study hides them, and
    nothing names the underlying game; every address holds the participant's resume token, never
    the id they report. The answer buttons come in the trial's own recorded order; after the
    last practice trial the page leads to the one that announces the test."""
    study = participant.study
    token = participant.resume_token
    state = game_state(participant.game, current_round)
    test_total = study.test_trials
    state.update(
        game=token,
        total_points=None,  # a running total would tell a test-phase participant how they did
        summary_url=reverse("study-done", args=[token]),
        next_url=reverse("api-study-next", args=[token]),
        study={
            "name": study.name,
            "practice_total": study.practice_count,
            "test_total": test_total,
        },
    )
    if current_round is None:
        return state
    index = current_round.index
    phase = study_rules.phase_of(index, study.practice_count)
    in_phase, of = (
        (index + 1, study.practice_count)
        if phase == study_rules.PRACTICE
        else (index + 1 - study.practice_count, test_total)
    )
    state["round"].update(
        guess_url=reverse("api-study-guess", args=[token, index]),
        phase=phase,
        label=f"{phase.capitalize()} {in_phase} / {of}",
    )
    instructed = study.catch_answers.get(str(current_round.location_id))
    if instructed:  # a catch trial: the participant is told which city to pick
        state["round"]["prompt"] = f"Attention check: whatever you see, pick \u201c{instructed}\u201d."
    if "candidates" in state:
        trial = Trial.objects.filter(participant=participant, index=index).first()
        if trial is not None and trial.choice_order:
            state["candidates"] = trial.choice_order
    if state["result"] is not None and not answers_shown(study, index):
        state["result"] = hidden_result(state["result"])
    last_practice = index == study.practice_count - 1 and study.test_count > 0
    if state["result"] is not None and last_practice and participant.test_started_at is None:
        state.update(finished=True, summary_url=reverse("study-test-start", args=[token]))
        state["summary_label"] = "Continue to the test"
    return state


def hidden_result(result):
    """What a participant sees after answering when the study does not show answers."""
    return {"round": result["round"], "hidden": True, "timed_out": result["timed_out"]}


def staff_study_list():
    """Every study with its state ("open", "paused", "closed", or "expired" past its closing time)
    and its counts of participants and of those who finished."""
    real = Q(participants__pilot=False)
    studies = Study.objects.select_related("map").annotate(
        participant_count=Count("participants", filter=real, distinct=True),
        finished_count=Count(
            "participants", filter=real & Q(participants__finished_at__isnull=False), distinct=True
        ),
    )
    now = timezone.now()
    for s in studies:
        s.state = "expired" if s.status == Study.OPEN and s.closes_at and s.closes_at <= now else s.status
    return studies


def study_progress(study, include_pilot=False):
    """Participants with how far they are, for the staff's progress page (pilots only if asked)."""
    correct = Q(player__guesses__correct=True)
    practice = Q(player__guesses__round__index__lt=study.practice_count)
    participants = (
        _participants(study, include_pilot)
        .annotate(
            answered=Count("player__guesses"),
            practice_correct=Count("player__guesses", filter=correct & practice),
            test_correct=Count("player__guesses", filter=correct & ~practice),
        )
        .order_by("created_at", "id")
    )
    total = study.practice_count + study.test_trials
    rows = [
        {
            "participant": p,
            "answered": p.answered,
            "total": total,
            "practice_correct": p.practice_correct,
            "test_correct": p.test_correct,
            "finished": p.answered >= total,
        }
        for p in participants
    ]
    return {
        "rows": rows,
        "participants": len(rows),
        "started": sum(r["answered"] > 0 for r in rows),
        "finished": sum(r["finished"] for r in rows),
        "answers": sum(r["answered"] for r in rows),
    }


def _participants(study, include_pilot=False):
    """The study's participants; pilot runs only when asked for."""
    participants = Participant.objects.filter(study=study)
    return participants if include_pilot else participants.filter(pilot=False)


# The data dictionary of the export: every column, in order, with its meaning.
EXPORT_FIELDS = [
    ("study", "the study's slug"),
    ("participant", "anonymous participant id (a random UUID given at consent; not a credential)"),
    ("pilot", "whether this is a staff pilot run (only in exports that ask for pilots)"),
    ("trial", "0-based position of the location in this participant's order (practice first)"),
    ("phase", "'practice' or 'test'"),
    ("location_id", "geogame's id of the location (the same for every participant and model)"),
    ("answer_lat", "latitude of the location, degrees"),
    ("answer_lon", "longitude of the location, degrees"),
    ("answer_city", "the location's city as 'City, Country' (empty on maps without cities)"),
    ("guess_lat", "latitude guessed (city mode: the chosen city's centre); empty if timed out"),
    ("guess_lon", "longitude guessed (city mode: the chosen city's centre); empty if timed out"),
    ("guess_city", "the city chosen, city mode only"),
    ("distance_km", "great-circle (haversine) distance from guess to location, km; empty if timed out"),
    ("points", "GeoGuessr-style points 0-5000 (geogame.game.scoring)"),
    (
        "correct",
        "city mode: whether the chosen city is the location's city (false when timed out); empty otherwise",
    ),
    ("timed_out", "whether the time limit ran out before an answer"),
    (
        "time_taken_s",
        "seconds on screen: from the trial's latest display (its start, or its resumption after the "
        "participant left the page) to the answer, server clock, less the time the browser reported "
        "the page hidden",
    ),
    ("elapsed_s", "seconds from the trial's first display to the answer, server clock, time away included"),
    ("away_s", "elapsed_s minus time_taken_s: seconds away from the trial"),
    ("interrupted", "whether the participant left the trial (page reopened, or tab hidden or unfocused)"),
    ("displays", "how many times the trial was put on screen (1 unless the page was reopened)"),
    ("choice_order", "city mode: the answer buttons top to bottom, separated by '|' (shuffled per trial)"),
    ("hidden_ms", "milliseconds the browser reported the page hidden during the trial's latest display"),
    ("blur_count", "times the page lost focus or was hidden during the trial's latest display"),
    ("rt_ms", "browser reaction time: milliseconds from the first view's image load to the answer"),
    ("catch_trial", "whether the trial is a catch trial (an instructed answer; not a test location)"),
    ("catch_passed", "catch trials: whether the instructed city was picked; empty otherwise"),
    ("views_seen", "view numbers (0-based) the participant opened, separated by ';'"),
    ("view_ms", "milliseconds each view was on screen, by view number, separated by ';'"),
    ("screen_w", "browser window width in CSS pixels at the answer"),
    ("screen_h", "browser window height in CSS pixels at the answer"),
    ("started_at", "when the trial was shown (UTC, ISO 8601)"),
    ("answered_at", "when the answer was stored (UTC, ISO 8601)"),
]


# Each answer column's type and unit, for the machine-readable codebook (codebook.json).
EXPORT_TYPES = {
    "trial": ("integer", "index"), "location_id": ("integer", ""), "answer_lat": ("number", "degrees"),
    "answer_lon": ("number", "degrees"), "guess_lat": ("number", "degrees"),
    "guess_lon": ("number", "degrees"),
    "distance_km": ("number", "km"), "points": ("integer", "points"), "correct": ("boolean", ""),
    "timed_out": ("boolean", ""), "time_taken_s": ("number", "s"), "elapsed_s": ("number", "s"),
    "away_s": ("number", "s"), "interrupted": ("boolean", ""), "displays": ("integer", "count"),
    "choice_order": ("string", "'|'-separated"), "hidden_ms": ("integer", "ms"),
    "blur_count": ("integer", "count"), "rt_ms": ("integer", "ms"), "catch_trial": ("boolean", ""),
    "catch_passed": ("boolean", ""), "views_seen": ("string", "';'-separated"),
    "view_ms": ("string", "ms, ';'-separated"), "screen_w": ("integer", "CSS px"),
    "screen_h": ("integer", "CSS px"), "participant": ("uuid", ""), "started_at": ("datetime", "UTC"),
    "answered_at": ("datetime", "UTC"), "pilot": ("boolean", ""),
}  # fmt: skip


def codebook(study):
    """Every exported column of both tables with its meaning, type and unit (text columns:
    "string" without a unit)."""
    answers = []
    for name, meaning in export_fields(study):
        kind, unit = EXPORT_TYPES.get(name, ("string", ""))
        answers.append({"table": "answers", "column": name, "meaning": meaning, "type": kind, "unit": unit})
    participants = [
        {"table": "participants", "column": name, "meaning": meaning, "type": kind, "unit": unit}
        for name, meaning, kind, unit in participant_fields(study)
    ]
    return answers + participants


def export_fields(study):
    """EXPORT_FIELDS plus one column per optional self-reported question."""
    return EXPORT_FIELDS + [(f"q_{q['key']}", f"self-reported: {q['label']}") for q in study.questions]


def study_rows(study, include_pilot=False):
    """One row per stored answer of the study, ordered by participant and trial (pilot runs only
    when asked for)."""
    guesses = Guess.objects.filter(player__participant__study=study)
    if not include_pilot:
        guesses = guesses.filter(player__participant__pilot=False)
    guesses = guesses.select_related("round__location", "player__participant").order_by(
        "player__participant__created_at", "player__participant__id", "round__index"
    )
    trials = {(t.participant_id, t.index): t for t in Trial.objects.filter(participant__study=study)}
    city_mode = study.mode == Game.CITY
    rows = []
    for g in guesses:
        p = g.player.participant
        loc = g.round.location
        trial = trials.get((p.id, g.round.index))
        if trial is not None:
            taken, elapsed, away = study_rules.timing(
                first_shown_at=trial.first_shown_at,
                shown_at=trial.shown_at,
                answered_at=g.created_at,
                hidden_ms=trial.hidden_ms,
            )
            if g.timed_out:  # the clock ran on: the trial lasted its time limit
                taken = elapsed = g.time_taken_s
                away = 0.0
        else:
            taken = elapsed = g.time_taken_s
            away = 0.0
        correct = g.correct
        if city_mode and g.timed_out and correct is None:  # rows stored before timeouts were scored
            correct = False
        row = {
            "study": study.slug,
            "participant": str(p.public_id),
            "pilot": p.pilot,
            "trial": g.round.index,
            "phase": study_rules.phase_of(g.round.index, study.practice_count),
            "location_id": loc.id,
            "answer_lat": loc.lat,
            "answer_lon": loc.lon,
            "answer_city": city_label(loc.city, loc.country) if loc.city else "",
            "guess_lat": g.lat,
            "guess_lon": g.lon,
            "guess_city": g.city,
            "distance_km": g.distance_km,
            "points": g.points,
            "correct": correct,
            "timed_out": g.timed_out,
            "time_taken_s": taken,
            "elapsed_s": elapsed,
            "away_s": away,
            "interrupted": bool(trial and (trial.displays > 1 or trial.hidden_ms or trial.blur_count)),
            "displays": trial.displays if trial else 1,
            "choice_order": "|".join(trial.choice_order) if trial else "",
            "hidden_ms": trial.hidden_ms if trial else None,
            "blur_count": trial.blur_count if trial else None,
            "rt_ms": trial.rt_ms if trial else None,
            "catch_trial": str(loc.id) in study.catch_answers,
            "catch_passed": (
                g.city == study.catch_answers[str(loc.id)] if str(loc.id) in study.catch_answers else None
            ),
            "views_seen": ";".join(str(v) for v in g.views_seen),
            "view_ms": ";".join(str(v) for v in g.view_ms),
            "screen_w": g.screen_w,
            "screen_h": g.screen_h,
            "started_at": g.round.started_at.isoformat(),
            "answered_at": g.created_at.isoformat(),
        }
        for q in study.questions:
            row[f"q_{q['key']}"] = p.answers.get(q["key"], "")
        rows.append(row)
    return rows


# -- What the game asks of studies (registered in StudiesConfig.ready) ----------------------------


def open_study_location_ids(m, now, game):
    """An open study's practice and test sets (its participants' own games play them): a reservation
    source of geogame.game.location_pools."""
    ids = set()
    studies = (
        Study.objects.filter(map=m)
        .exclude(status=Study.CLOSED)
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
    )
    for practice, test in studies.values_list("practice_ids", "test_ids"):
        ids.update(practice or ())
        ids.update(test or ())
    return ids


# A participant's game plays the study's locations in its own fixed order, and shows every
# participant the same pictures (geogame.game.hooks: fixed_order, fixed_headings).
PARTICIPANT_GAMES = Q(participant__isnull=False)


def may_see_round(request, round):
    """The browser of the participant whose round it is may see its images."""
    return participant_plays_game(study_participant_ids(request), round.game_id)


# -- Participant-level table, study metadata, de-identified answers -------------------------------

PARTICIPANT_FIELDS = [
    ("study", "the study's slug", "string", ""),
    ("participant", "anonymous participant id (the id the person reports)", "uuid", ""),
    ("status", "'finished', 'started' (answered at least one trial) or 'joined'", "string", ""),
    ("joined_at", "when they consented (UTC, ISO 8601)", "datetime", "UTC"),
    ("test_started_at", "when they started the test phase (UTC, ISO 8601)", "datetime", "UTC"),
    ("finished_at", "when they answered the last trial (UTC, ISO 8601); empty if not", "datetime", "UTC"),
    ("answered", "trials answered", "integer", "trials"),
    ("consent_sha256", "SHA-256 of the consent text they agreed to", "string", ""),
    ("platform", "'prolific', 'mturk', 'pid' or empty", "string", ""),
    ("platform_id_hash", "HMAC-SHA-256 of their platform id (GEOGAME_STUDY_ID_PEPPER)", "string", ""),
    ("platform_ids", "the raw platform ids as JSON, only if the study keeps them", "json", ""),
    ("pilot", "whether this is a staff pilot run (only in exports that ask for pilots)", "boolean", ""),
    ("instructions_sha256", "SHA-256 of the instructions pages they were shown", "string", ""),
    ("order_design", "'latin_square' or 'random': how their test order was made", "string", ""),
    (
        "order_row",
        "their row of the study's balanced Latin square (0-based); empty if random",
        "integer",
        "row",
    ),
    (
        "test_order",
        "location ids of their test trials in the order served, '|'-separated (catch trials included)",
        "string",
        "'|'-separated",
    ),
]


def participant_fields(study):
    return PARTICIPANT_FIELDS + [
        (f"q_{q['key']}", f"self-reported: {q['label']}", "string", "") for q in study.questions
    ]


def participant_rows(study, include_pilot=False):
    """One row per participant (withdrawn ones are gone; pilots only if asked), in joining order."""
    participants = (
        _participants(study, include_pilot).select_related("game").annotate(answered=Count("player__guesses"))
    )
    rows = []
    for p in participants.order_by("created_at", "id"):
        status = "finished" if p.finished_at else ("started" if p.answered else "joined")
        row = {
            "study": study.slug,
            "participant": str(p.public_id),
            "status": status,
            "joined_at": p.created_at.isoformat(),
            "test_started_at": p.test_started_at.isoformat() if p.test_started_at else None,
            "finished_at": p.finished_at.isoformat() if p.finished_at else None,
            "answered": p.answered,
            "consent_sha256": p.consent_sha256,
            "platform": p.platform,
            "platform_id_hash": p.platform_id_hash,
            "platform_ids": json.dumps(p.platform_ids, sort_keys=True) if p.platform_ids else "",
            "pilot": p.pilot,
            "instructions_sha256": p.instructions_sha256,
            "order_design": p.order_design,
            "order_row": p.order_row,
            "test_order": "|".join(str(i) for i in p.game.location_order[study.practice_count :]),
        }
        for q in study.questions:
            row[f"q_{q['key']}"] = p.answers.get(q["key"], "")
        rows.append(row)
    return rows


def study_counts(study):
    """CONSORT-style counts: consented, started, finished, withdrawn (whose data is gone); pilot
    runs counted apart, never in the others."""
    rows = participant_rows(study)
    return {
        "pilot": Participant.objects.filter(study=study, pilot=True).count(),
        "consented": len(rows) + study.withdrawn_count,
        "started": sum(r["status"] != "joined" for r in rows),
        "finished": sum(r["status"] == "finished" for r in rows),
        "not_finished": sum(r["status"] != "finished" for r in rows),
        "withdrawn": study.withdrawn_count,
    }


def study_metadata(study, software_version):
    """The study's protocol, texts, questions, times and counts, as one JSON object."""
    fields = (
        "slug name mode practice_count test_count time_limit_s answers_after_practice answers_after_test "
        "seed practice_ids test_ids catch_ids catch_answers questions comprehension exclusion_rules "
        "max_participants quotas status completion_url screened_out_url store_raw_platform_ids "
        "consent_text debrief_text order_design instructions bonus_currency"
    ).split()
    meta = {name: getattr(study, name) for name in fields}
    meta.update(
        map=study.map.slug,
        consent_sha256=hashlib.sha256(study.consent_text.encode()).hexdigest(),
        instructions_sha256=study_rules.instructions_sha256(study.instructions)
        if study.instructions
        else None,
        latin_square_rows=(
            study_rules.latin_square_rows(len(study.test_ids))
            if study.order_design == study_rules.LATIN_SQUARE
            else None
        ),
        # Decimals as text: exact, as the bonus export computes them.
        bonus_rate=None if study.bonus_rate is None else str(study.bonus_rate),
        bonus_cap=None if study.bonus_cap is None else str(study.bonus_cap),
        created_at=study.created_at.isoformat(),
        closes_at=study.closes_at.isoformat() if study.closes_at else None,
        counts=study_counts(study),
        software={"name": "geogame", "version": software_version},
    )
    return meta


DEIDENTIFIED_DROPPED = ("started_at", "answered_at", "screen_w", "screen_h")


def deidentified_rows(study, include_pilot=False):
    """The answers without what could single a person out: participants renumbered P001... in
    joining order, no clock times (durations stay), no window sizes."""
    rows = study_rows(study, include_pilot)
    labels = {}
    for r in rows:
        labels.setdefault(r["participant"], f"P{len(labels) + 1:03d}")
    return [
        {
            **{k: v for k, v in r.items() if k not in DEIDENTIFIED_DROPPED},
            "participant": labels[r["participant"]],
        }
        for r in rows
    ]


# -- Payment: bonuses and approve/reject lists -----------------------------------------------------

ERR_NO_BONUS_RULE = "this study has no bonus rule: set one (--bonus-rate, or the form) to export bonuses"
ERR_IDS_HASHED = (
    "this study keeps platform ids only hashed (it was created without --store-raw-ids): there are no "
    "ids to pay a bonus to; see docs/study.md, section Payment"
)


def payment_rows(study):
    """One row per participant who is not a pilot: whether they finished, the exclusion rules they
    fail, their test points (test locations only: no practice, no catch trials), the verdict
    (rules.payment_verdict), their bonus (a Decimal, or None without a bonus rule) and their raw
    platform ids (empty when the study keeps them hashed only)."""
    rows = study_rows(study)
    participants = list(_participants(study).order_by("created_at", "id"))
    finished = {str(p.public_id): p.finished_at is not None for p in participants}
    excluded = study_rules.exclusions(rows, finished, study.exclusion_rules)
    points = {}
    for r in rows:
        if r["phase"] == study_rules.TEST and not r["catch_trial"]:
            points[r["participant"]] = points.get(r["participant"], 0) + int(r["points"] or 0)
    out = []
    for p in participants:
        pid = str(p.public_id)
        verdict, reason = study_rules.payment_verdict(
            finished=finished[pid], excluded_by=excluded.get(pid, [])
        )
        total = points.get(pid, 0)
        out.append(
            {
                "participant": pid,
                "finished": finished[pid],
                "excluded_by": excluded.get(pid, []),
                "verdict": verdict,
                "reason": reason,
                "test_points": total,
                "bonus": (
                    None
                    if study.bonus_rate is None
                    else study_rules.bonus_amount(total, study.bonus_rate, study.bonus_cap)
                ),
                "platform": p.platform,
                "platform_ids": p.platform_ids,
            }
        )
    return out


BONUS_PLATFORMS = {"prolific": study_rules.PROLIFIC, "mturk": study_rules.MTURK}


def bonus_lines(study, platform):
    """(header or None, rows) of a platform's bulk bonus format: Prolific "participant_id,amount"
    lines (no header), MTurk workerId,assignmentId,bonus,reason. Only finished, non-excluded (the
    approve list), non-pilot participants of that platform with a bonus above 0 and raw ids stored.
    ValueError when the study has no bonus rule or keeps the ids hashed only."""
    if study.bonus_rate is None:
        raise ValueError(ERR_NO_BONUS_RULE)
    if not study.store_raw_platform_ids:
        raise ValueError(ERR_IDS_HASHED)
    chosen = [
        r
        for r in payment_rows(study)
        if r["verdict"] == "approve" and r["platform"] == platform and r["bonus"] and r["platform_ids"]
    ]
    if platform == study_rules.PROLIFIC:
        return None, [[r["platform_ids"]["PROLIFIC_PID"], f"{r['bonus']:.2f}"] for r in chosen]
    return ["workerId", "assignmentId", "bonus", "reason"], [
        [
            r["platform_ids"]["workerId"],
            r["platform_ids"].get("assignmentId", ""),
            f"{r['bonus']:.2f}",
            f"Performance bonus: {r['test_points']} points in {study.name}",
        ]
        for r in chosen
    ]


VERDICT_FIELDS = ["participant", "platform", "platform_id", "assignment_id", "test_points", "bonus", "reason"]


def verdict_rows(study, verdict):
    """The approve or reject list: one row per (non-pilot) participant with that verdict, with their
    raw platform id where the study keeps it, their bonus and, for rejections, the reason."""
    out = []
    for r in payment_rows(study):
        if r["verdict"] != verdict:
            continue
        params = study_rules.PLATFORM_PARAMS.get(r["platform"], ())
        out.append(
            {
                "participant": r["participant"],
                "platform": r["platform"],
                "platform_id": r["platform_ids"].get(params[0], "") if params else "",
                "assignment_id": r["platform_ids"].get("assignmentId", ""),
                "test_points": r["test_points"],
                "bonus": "" if r["bonus"] is None else f"{r['bonus']:.2f}",
                "reason": r["reason"],
            }
        )
    return out
