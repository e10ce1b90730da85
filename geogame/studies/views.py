"""Study pages: the participant's side (link, consent, trials, withdrawal) and the staff's
(studies, progress, export). Thin: parse, call geogame.studies.services, respond."""

import io
import json
import tomllib
import uuid
from datetime import datetime

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from geogame.common.csv_export import write_csv
from geogame.common.ratelimit import rate_limited, session_or_address
from geogame.game import selectors, services
from geogame.game.models import Game
from geogame.game.views import PLAY_PAGE_CONFIG, json_error, parse_json_object
from geogame.maps.models import Map
from players.sessions import STUDY_SESSION_KEY, study_participant_ids

from . import rules as study_rules
from . import selectors as study_selectors
from . import services as study_services
from .models import Participant, Study

SESSION_MAX = 20


def software_version():
    """geogame's version (pyproject.toml), for the study metadata file."""
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


TAKEN_COOKIE = "geogame_studies_taken"
TAKEN_SALT = "geogame.studies.taken"
TAKEN_MAX = 50
TAKEN_MAX_AGE_S = 2 * 365 * 24 * 3600


def _forget(request, token):
    tokens = [t for t in study_participant_ids(request) if t != token]
    request.session[STUDY_SESSION_KEY] = tokens
    return tokens


def _remember(request, participant):
    """The session may see this participant's images (their resume link was opened here)."""
    tokens = _forget(request, participant.resume_token)
    request.session[STUDY_SESSION_KEY] = (tokens + [participant.resume_token])[-SESSION_MAX:]


def _own_participant(request, token):
    """The participant whose resume token is in the address; else 404 (an unknown token, or a
    participant's reported id, opens nothing)."""
    participant = (
        Participant.objects.select_related("study__map", "game__map", "player")
        .filter(resume_token=token)
        .first()
        if len(token) <= 64
        else None
    )
    if participant is None:
        raise Http404("no such participant (if you withdrew, your answers were deleted)")
    return participant


def _studies_taken(request):
    """The ids of the studies this browser joined (a signed cookie kept two years)."""
    raw = request.get_signed_cookie(TAKEN_COOKIE, default="", salt=TAKEN_SALT)  # tampered: ""
    return [int(x) for x in raw.split(",") if x.isdigit()][-TAKEN_MAX:]


def _mark_taken(request, response, study):
    taken = [s for s in _studies_taken(request) if s != study.id] + [study.id]
    response.set_signed_cookie(
        TAKEN_COOKIE,
        ",".join(str(s) for s in taken[-TAKEN_MAX:]),
        salt=TAKEN_SALT,
        max_age=TAKEN_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _study_for_link(token):
    study = Study.objects.select_related("map").filter(link_token=token).first()
    if study is None:
        raise Http404("no study has this link")
    return study


ERR_PILOT_STAFF = "a pilot link is for the study's staff: log in as staff, then open it again"
JOIN_PARAMS = ("pilot", "page")  # the join page's own query parameters, apart from the platform's


def _page_url(request, page):
    """The join page's address at instructions page `page`, keeping the platform ids and pilot flag."""
    query = request.GET.copy()
    query["page"] = str(page)
    return f"{request.path}?{query.urlencode()}"


def _instructions_context(request, study, pages):
    """The instructions page to show (?page=N, 1-based; the last one holds the consent form) and
    the Back/Next addresses."""
    try:
        page = int(request.GET.get("page", "1")) if request.method == "GET" else len(pages)
    except ValueError:
        page = 1
    page = min(max(page, 1), len(pages))
    return {
        "page": page,
        "pages": len(pages),
        "page_text": pages[page - 1],
        "back_url": _page_url(request, page - 1) if page > 1 else None,
        "next_url": _page_url(request, page + 1) if page < len(pages) else None,
    }


@require_http_methods(["GET", "POST"])
@rate_limited("study")
def study_join(request, token):
    study = _study_for_link(token)
    pilot = request.GET.get("pilot") == "1"
    if pilot and not (request.user.is_authenticated and request.user.is_staff):
        return render(request, "studies/study_pilot_staff.html", {"error": ERR_PILOT_STAFF}, status=403)
    refusal = None if pilot else study_services.study_refusal(study)
    if refusal:
        context = {"study": study, "paused": refusal[0] == 503}
        return render(request, "studies/study_closed.html", context, status=refusal[0])
    if not pilot and study.id in _studies_taken(request):
        return render(
            request,
            "studies/study_taken.html",
            {"study": study, "error": study_services.ERR_ALREADY_TOOK_PART},
            status=409,
        )
    error = None
    # The recruitment platform's ids ride on the link's query string (the form posts back to it).
    platform_query = {key: request.GET.get(key) for key in request.GET if key not in JOIN_PARAMS}
    try:
        if not pilot:
            study_rules.platform_ids(platform_query)
    except ValueError as exc:
        error = str(exc)
    if request.method == "POST" and error is None:
        if request.POST.get("consent") == "no":
            return render(request, "studies/study_no_consent.html", {"study": study})
        if request.POST.get("consent") != "yes":
            error = "Please tick the box to say you agree before you start."
        else:
            answers = {q["key"]: request.POST.get(f"q_{q['key']}", "") for q in study.questions}
            try:
                checks = {str(i): request.POST.get(f"check_{i}", "") for i in range(len(study.comprehension))}
                participant = study_services.participant_join(
                    study=study,
                    answers=answers,
                    platform_query=platform_query,
                    comprehension_answers=checks,
                    pilot=pilot,
                )
            except services.GameError as exc:
                error = exc.message
                if exc.status in (410, 503):
                    context = {"study": study, "paused": exc.status == 503}
                    return render(request, "studies/study_closed.html", context, status=exc.status)
                if exc.result == study_services.QUOTA_FULL:
                    return render(
                        request, "studies/study_no_consent.html", {"study": study, "full": True}, status=409
                    )
                if exc.status == 409:
                    context = {"study": study, "error": exc.message}
                    return render(request, "studies/study_taken.html", context, status=409)
            else:
                _remember(request, participant)
                response = redirect("study-play", token=participant.resume_token)
                if not pilot:  # staff may pilot a study again and again
                    _mark_taken(request, response, study)
                return response
    return render(
        request,
        "studies/study_join.html",
        {
            "study": study,
            "pilot": pilot,
            "error": error,
            "form": request.POST if error else {},
            **_instructions_context(request, study, study_services.instructions_pages(study)),
        },
        status=400 if error else 200,
    )


@require_GET
def study_play(request, token):
    """The participant's page; opening it is also how they resume on another visit (a trial left
    unanswered is then shown anew: its time_taken_s counts from now)."""
    participant = _own_participant(request, token)
    _remember(request, participant)
    if participant.finished_at is not None:
        return redirect("study-done", token=token)
    study_services.trial_resumed(participant=participant)
    return render(
        request,
        "game/play.html",
        {
            "game": participant.game,
            "state_url": reverse("api-study-state", args=[token]),
            "participant": participant,
            "study": participant.study,
            "play_config": PLAY_PAGE_CONFIG,
        },
    )


@require_http_methods(["GET", "POST"])
@rate_limited("study", key=session_or_address)
def study_test_start(request, token):
    """The page between the practice and the test: the test starts when the participant says so."""
    participant = _own_participant(request, token)
    if request.method == "POST":
        study_services.test_start(participant=participant)
        study_services.trial_current(participant=participant)  # the first test trial starts now
        return redirect("study-play", token=token)
    return render(
        request, "studies/study_test_start.html", {"participant": participant, "study": participant.study}
    )


@require_GET
def study_done(request, token):
    participant = _own_participant(request, token)
    context = {"participant": participant, "study": participant.study}
    return render(request, "studies/study_done.html", context)


@require_http_methods(["GET", "POST"])
@rate_limited("study", key=session_or_address)
def study_withdraw(request, token):
    participant = _own_participant(request, token)
    if request.method == "POST":
        study = participant.study
        study_services.participant_withdraw(participant)
        _forget(request, token)
        return render(request, "studies/study_withdrawn.html", {"study": study})
    return render(request, "studies/study_withdraw.html", {"participant": participant})


@require_GET
def api_study_state(request, token):
    participant = _own_participant(request, token)
    current = study_services.trial_on_screen(participant=participant)
    return JsonResponse(study_selectors.study_state(participant, current))


@require_POST
@rate_limited("study", key=session_or_address)
def api_study_next(request, token):
    participant = _own_participant(request, token)
    try:
        current = study_services.trial_current(participant=participant)
    except services.GameError as exc:
        return json_error(exc.message, status=exc.status)
    if current is None:
        current = participant.game.rounds.order_by("-index").first()
    return JsonResponse(study_selectors.study_state(participant, current))


@require_POST
@rate_limited("guess", key=session_or_address)
def api_study_guess(request, token, index):
    participant = _own_participant(request, token)
    try:
        data = parse_json_object(request)
        guess, created = study_services.trial_guess(
            participant=participant,
            index=index,
            phase=data.get("phase"),
            lat=data.get("lat"),
            lon=data.get("lon"),
            city=data.get("city"),
            views_seen=data.get("views_seen"),
            view_ms=data.get("view_ms"),
            screen=data.get("screen"),
            client=data.get("client"),
        )
    except ValueError as exc:
        return json_error(str(exc))
    except services.GameError as exc:
        extra = {}
        if exc.result is not None:
            result = selectors.guess_result(exc.result)
            if not study_selectors.answers_shown(participant.study, index):
                result = study_selectors.hidden_result(result)
            extra["result"] = result
        return json_error(exc.message, status=exc.status, **extra)
    state = study_selectors.study_state(participant, guess.round)
    state["created"] = created
    return JsonResponse(state, status=201 if created else 200)


@staff_member_required
@require_http_methods(["GET", "POST"])
def staff_studies(request):
    error = None
    if request.method == "POST":
        try:
            study = _create_study_from_form(request.POST)
            return redirect("staff-study", slug=study.slug)
        except (ValueError, services.GameError) as exc:
            error = getattr(exc, "message", None) or str(exc)
    return render(
        request,
        "studies/staff_studies.html",
        {
            "studies": study_selectors.staff_study_list(),
            "maps": Map.objects.order_by("name"),
            "modes": Game.MODE_CHOICES,
            "default_mode": Game.CITY,
            "default_consent": study_services.DEFAULT_CONSENT,
            "order_designs": Study.ORDER_CHOICES,
            "default_order": Study.LATIN_SQUARE,
            "error": error,
            "form": request.POST if error else {},
        },
        status=400 if error else 200,
    )


def _int_field(data, name, label, default=None):
    raw = (data.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{label} must be a whole number") from None


def _create_study_from_form(data):
    m = Map.objects.filter(slug=data.get("map", "")).first()
    if m is None:
        raise ValueError("choose one of the maps listed")
    closes_at = None
    if (data.get("closes_at") or "").strip():
        try:
            closes_at = datetime.fromisoformat(data["closes_at"].strip())
        except ValueError:
            raise ValueError("'closes at' must be a date and time like 2027-01-31T18:00") from None
        if timezone.is_naive(closes_at):
            closes_at = timezone.make_aware(closes_at)
    return study_services.study_create(
        map=m,
        name=data.get("name", ""),
        consent_text=data.get("consent_text", "").strip() or study_services.DEFAULT_CONSENT,
        mode=data.get("mode") or Game.CITY,
        practice_count=_int_field(data, "practice_count", "practice locations", 25),
        test_count=_int_field(data, "test_count", "test locations", 50),
        time_limit_s=_int_field(data, "time_limit_s", "time limit"),
        answers_after_practice=data.get("answers_after_practice") == "on",
        answers_after_test=data.get("answers_after_test") == "on",
        closes_at=closes_at,
        questions=_json_field(data, "questions", "the questions"),
        completion_url=(data.get("completion_url") or "").strip(),
        completion_code=data.get("completion_code") or "",
        screened_out_url=(data.get("screened_out_url") or "").strip(),
        store_raw_platform_ids=data.get("store_raw_platform_ids") == "on",
        max_participants=_int_field(data, "max_participants", "the maximum number of participants"),
        quotas=_json_field(data, "quotas", "the quotas"),
        comprehension=_json_field(data, "comprehension", "the comprehension check"),
        catch_count=_int_field(data, "catch_count", "catch trials", 0),
        exclusion_rules=_json_field(data, "exclusion_rules", "the exclusion rules"),
        debrief_text=data.get("debrief_text") or "",
        stratify=data.get("stratify") == "on",
        order_design=data.get("order_design") or Study.LATIN_SQUARE,
        instructions=_instructions_field(data),
        bonus_rate=(data.get("bonus_rate") or "").strip() or None,
        bonus_cap=(data.get("bonus_cap") or "").strip() or None,
        bonus_currency=data.get("bonus_currency") or "",
    )


def _instructions_field(data):
    raw = data.get("instructions") or ""
    limit = study_rules.MAX_INSTRUCTION_PAGES * (study_rules.MAX_INSTRUCTION_CHARS + 10)
    if len(raw) > limit:
        raise ValueError(f"the instructions must be at most {limit} characters")
    return study_rules.instructions_from_text(raw) or None


def _json_field(data, name, label):
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) > 20_000:
        raise ValueError(f"{label} must be at most 20000 characters of JSON")
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError(f"{label} must be valid JSON") from None


@staff_member_required
@require_GET
def staff_study(request, slug):
    study = get_object_or_404(Study.objects.select_related("map"), slug=slug)
    return render(
        request,
        "studies/staff_study.html",
        {
            "study": study,
            "progress": study_selectors.study_progress(study),
            "counts": study_selectors.study_counts(study),
            "audit": study.audit_events.all()[:50],
            "link": request.build_absolute_uri(reverse("study-join", args=[study.link_token])),
            "pilot_link": reverse("study-join", args=[study.link_token]) + "?pilot=1",
            "dictionary": study_selectors.export_fields(study),
        },
    )


@staff_member_required
@require_POST
def staff_study_status(request, slug):
    """Pause, close early or reopen the study."""
    study = get_object_or_404(Study, slug=slug)
    try:
        study_services.study_set_status(study, request.POST.get("status", ""))
    except services.GameError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    study_services.audit_record(study=study, user=request.user, action="status", detail=study.status)
    return redirect("staff-study", slug=slug)


EXPORT_FORMATS = (
    "csv", "json", "dictionary.csv", "participants.csv", "metadata.json", "codebook.json", "deidentified.csv",
    "bonus-prolific.csv", "bonus-mturk.csv", "approve.csv", "reject.csv",
)  # fmt: skip


@staff_member_required
@require_GET
def staff_study_export(request, slug, fmt):
    """The study's data; every export is noted in its audit log. Pilot runs stay out unless the
    address asks for them (?pilot=1: answers, participants and de-identified answers)."""
    study = get_object_or_404(Study.objects.select_related("map"), slug=slug)
    if fmt not in EXPORT_FORMATS:
        raise Http404("export formats: " + ", ".join(EXPORT_FORMATS))
    pilot = request.GET.get("pilot") == "1"
    fields = study_selectors.export_fields(study)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt.startswith("bonus-"):
        try:
            header, rows = study_selectors.bonus_lines(study, fmt[len("bonus-") : -len(".csv")])
        except ValueError as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        buf = io.StringIO()
        write_csv(buf, header, rows)
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    elif fmt in ("approve.csv", "reject.csv"):
        names = study_selectors.VERDICT_FIELDS
        rows = study_selectors.verdict_rows(study, fmt[: -len(".csv")])
        buf = io.StringIO()
        write_csv(buf, names, ([row[name] for name in names] for row in rows))
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    elif fmt == "json":
        rows = study_selectors.study_rows(study, pilot)
        body = {
            "study": study_selectors.study_metadata(study, software_version()),
            "dictionary": [{"column": name, "meaning": meaning} for name, meaning in fields],
            "rows": rows,
        }
        response = HttpResponse(json.dumps(body, indent=1), content_type="application/json")
    elif fmt in ("metadata.json", "codebook.json"):
        body = (
            study_selectors.study_metadata(study, software_version())
            if fmt == "metadata.json"
            else study_selectors.codebook(study)
        )
        response = HttpResponse(json.dumps(body, indent=1), content_type="application/json")
    else:
        buf = io.StringIO()
        if fmt == "csv":
            names = [name for name, _ in fields]
            rows = study_selectors.study_rows(study, pilot)
            write_csv(buf, names, ([row[name] for name in names] for row in rows))
        elif fmt == "deidentified.csv":
            names = [name for name, _ in fields if name not in study_selectors.DEIDENTIFIED_DROPPED]
            rows = study_selectors.deidentified_rows(study, pilot)
            write_csv(buf, names, ([row[name] for name in names] for row in rows))
        elif fmt == "participants.csv":
            names = [f[0] for f in study_selectors.participant_fields(study)]
            rows = study_selectors.participant_rows(study, pilot)
            write_csv(buf, names, ([row[name] for name in names] for row in rows))
        else:
            write_csv(buf, ["column", "meaning"], fields)
        response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    detail = fmt + (" with pilots" if pilot else "")
    study_services.audit_record(study=study, user=request.user, action="export", detail=detail)
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-{stamp}.{fmt}"'
    return response


@staff_member_required
@require_POST
def staff_participant_delete(request, slug):
    """Deletes a withdrawn participant's rows, on their request: they give their anonymous id."""
    study = get_object_or_404(Study, slug=slug)
    raw = (request.POST.get("participant") or "").strip()
    try:
        public_id = uuid.UUID(raw)
    except ValueError:
        public_id = None
    participant = Participant.objects.filter(study=study, public_id=public_id).first() if public_id else None
    if participant is None:
        return HttpResponse(
            f"No participant of this study has the id {raw!r}; nothing was deleted.",
            status=404,
            content_type="text/plain; charset=utf-8",
        )
    study_services.participant_withdraw(participant)
    study_services.audit_record(study=study, user=request.user, action="delete", detail=str(public_id))
    return redirect(reverse("staff-study", args=[slug]) + "?deleted=" + str(public_id))
