"""Study writes: creating a study, joining it, answering its trials, withdrawing.

A participant's trials are the rounds of their own Game, whose `location_order` is fixed at
joining (geogame.studies.rules.participant_order), so rounds, deadlines, scoring and the one-guess
rule are those of every game (geogame.game.services)."""

import hashlib
import random
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.text import slugify

from geogame.common import text_input
from geogame.game import location_pools, services
from geogame.game.models import Game
from geogame.game.selectors import city_centres
from geogame.game.services import GameError
from geogame.maps.models import Location
from players.models import Player

from . import rules as study_rules
from . import selectors as study_selectors
from .models import Participant, Study, StudyAuditEvent, Trial, default_study_questions

ERR_STUDY_CLOSED = "this study link has expired: the study no longer takes new participants"
ERR_NO_TRIAL = "no such trial for this participant"
ERR_WRONG_PHASE = "trial {number} is a {actual} location, not a {claimed} one"
ERR_BAD_PHASE = "'phase' must be 'practice' or 'test'"
ERR_SLUG_TAKEN = "a study named {slug!r} exists already"
ERR_COMPREHENSION = "some answers to the check are not right: read the instructions again, then answer it"
ERR_STUDY_PAUSED = "this study is paused for now: please try the link again later"
ERR_PLATFORM_REPEAT = "this platform id has already taken part in this study: each person takes it once"
QUOTA_FULL = "quota-full"  # GameError.result of a join refused by a quota: the screened-out exit
ERR_ALREADY_TOOK_PART = "this browser has already taken part in this study: each person takes it once"
ERR_TEST_NOT_STARTED = "the practice is over: start the test from the page that announces it"
MAX_TRIALS = 500
# The consent text of a study created without one (command and staff form alike). The brackets are
# placeholders for the researcher to fill in before recruiting.
DEFAULT_CONSENT = (
    "This is a study of how well people recognise places from street photos. You will see "
    "street views and guess where they were taken. We store your answers, how long you took, "
    "which views you opened, whether you left the page, your window size and anything you "
    "choose to tell us about yourself, under an anonymous id. Nothing else about you is stored: "
    "the server's logs never record your id. You can stop at any time and ask for your answers "
    "to be deleted by giving your id.\n\n"
    "Purpose: [what the study is for]. Risks: [none known beyond ordinary computer use]. "
    "Compensation: [payment, if any]. Retention: [how long the data is kept, and who sees it]. "
    "Contact: [researcher's name and e-mail]."
)
MAX_CLIENT_MS = 24 * 3600 * 1000
MAX_CLIENT_COUNT = 100_000

# Sent after a participant's rows are deleted, with `study` and `public_id` (a str): the benchmark
# reports made before strip them (geogame.benchmarks.apps), since they sit in a higher layer.
participant_withdrawn = Signal()
MAX_NAME_CHARS = Study._meta.get_field("name").max_length  # and the slug's
MAX_CONSENT_CHARS = 50_000


def study_create(
    *,
    map,
    name,
    consent_text,
    mode=Game.CITY,
    practice_count=25,
    test_count=50,
    time_limit_s=None,
    answers_after_practice=True,
    answers_after_test=False,
    questions=None,
    closes_at=None,
    seed=None,
    slug=None,
    completion_url="",
    completion_code="",
    screened_out_url="",
    store_raw_platform_ids=False,
    max_participants=None,
    quotas=None,
    comprehension=None,
    catch_count=0,
    exclusion_rules=None,
    debrief_text="",
    stratify=False,
    order_design=Study.LATIN_SQUARE,
    instructions=None,
    bonus_rate=None,
    bonus_cap=None,
    bonus_currency="",
):
    """A study on `map` whose practice and test locations are drawn now from its test split.
    Without `instructions` (a list of plain-text pages) it gets one page in today's words, with
    its own numbers (rules.default_instructions)."""
    try:
        name = text_input.clean_name(name, what="the study's name", max_chars=MAX_NAME_CHARS)
        consent_text = text_input.check_text(
            consent_text, what="the consent text", max_chars=MAX_CONSENT_CHARS
        )
    except ValueError as exc:
        raise GameError(str(exc)) from None
    slug = slugify(slug or name)[:MAX_NAME_CHARS].strip("-")  # NFKD may lengthen: "ﬃ" is "ffi"
    if not name or not slug:
        raise GameError("a study needs a name")
    if not consent_text.strip():
        raise GameError("a study needs a consent text")
    if mode not in dict(Game.MODE_CHOICES):
        raise GameError("mode must be 'city' or 'coordinates'")
    if mode == Game.CITY and len(city_centres(map)) < 2:
        raise GameError(services.ERR_CITY_MODE_NEEDS_CITIES)
    for label, count in (("practice", practice_count), ("test", test_count)):
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_TRIALS:
            raise GameError(f"the number of {label} locations must be a whole number from 0 to {MAX_TRIALS}")
    if time_limit_s is not None and not (10 <= time_limit_s <= 600):
        raise GameError(services.ERR_BAD_TIME_LIMIT)
    if Study.objects.filter(slug=slug).exists():
        raise GameError(ERR_SLUG_TAKEN.format(slug=slug))
    try:
        questions = study_rules.check_questions(default_study_questions() if questions is None else questions)
    except ValueError as exc:
        raise GameError(str(exc)) from None
    try:
        quotas = study_rules.check_quotas(quotas or {}, questions)
    except ValueError as exc:
        raise GameError(str(exc)) from None
    for label, url in (("completion URL", completion_url), ("screened-out URL", screened_out_url)):
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise GameError(f"the {label} must be an http(s) address") from None
            if len(url) > 500:
                raise GameError(f"the {label} is longer than 500 characters")
    completion_code = (completion_code or "").strip()
    if len(completion_code) > 64 or not all(c.isalnum() or c in "-_" for c in completion_code):
        raise GameError("the completion code must be up to 64 letters, digits, '-' or '_'")
    if max_participants is not None and (
        isinstance(max_participants, bool)
        or not isinstance(max_participants, int)
        or not 1 <= max_participants <= 100_000
    ):
        raise GameError("the maximum number of participants must be a whole number from 1 to 100000")
    try:
        comprehension = study_rules.check_comprehension(comprehension or [])
        exclusion_rules = study_rules.check_exclusion_rules(exclusion_rules or {})
    except ValueError as exc:
        raise GameError(str(exc)) from None
    try:
        debrief_text = text_input.check_text(
            debrief_text or "", what="the debrief text", max_chars=MAX_CONSENT_CHARS
        )
    except ValueError as exc:
        raise GameError(str(exc)) from None
    if isinstance(catch_count, bool) or not isinstance(catch_count, int) or not 0 <= catch_count <= 20:
        raise GameError("the number of catch trials must be a whole number from 0 to 20")
    if catch_count and mode != Game.CITY:
        raise GameError("catch trials (an instructed city to pick) need the city mode")
    if order_design not in dict(Study.ORDER_CHOICES):
        raise GameError(f"the order design must be one of: {', '.join(dict(Study.ORDER_CHOICES))}")
    try:
        if instructions is not None:
            instructions = study_rules.check_instructions(instructions)
        bonus_rate, bonus_cap, bonus_currency = study_rules.check_bonus_rule(
            bonus_rate, bonus_cap, bonus_currency
        )
    except ValueError as exc:
        raise GameError(str(exc)) from None
    seed = secrets.randbits(62) if seed is None else seed
    # Today's daily challenge holds its places from every other game, a study's too (the daily is
    # drawn first if it is the day's first draw on the map). Running duels and other studies do not
    # hold places from a study's sets (location_pools.reservation_source(for_studies=False)).
    held = location_pools.reserved_location_ids(map, for_study=True)
    catch_ids, catch_answers = [], {}
    if catch_count:
        outside = sorted(
            set(
                services.playable_locations(map, mode)
                .exclude(split=Location.TEST)
                .values_list("id", flat=True)
            )
            - held
        )
        if len(outside) < catch_count:
            raise GameError(
                f"the map has {len(outside)} playable locations outside its test split; "
                f"{catch_count} catch trials need as many"
            )
        rng = random.Random(f"catch:{seed}")
        catch_ids = sorted(rng.sample(outside, catch_count))
        cities = sorted(city_centres(map))
        catch_answers = {str(i): rng.choice(cities) for i in catch_ids}
    candidates = sorted(
        set(services.playable_locations(map, mode).filter(split=Location.TEST).values_list("id", flat=True))
        - held
    )
    try:
        if stratify:
            by_city = {}
            located = Location.objects.filter(id__in=candidates).values_list("id", "city", "country")
            for loc_id, city, country in located:
                if city:
                    by_city.setdefault(f"{city}, {country}", []).append(loc_id)
            practice_ids, test_ids = study_rules.stratified_location_sets(
                by_city, practice_count, test_count, seed
            )
        else:
            practice_ids, test_ids = study_rules.study_location_sets(
                candidates, practice_count, test_count, seed
            )
    except ValueError as exc:
        raise GameError(str(exc)) from None
    study = Study.objects.create(
        map=map,
        name=name,
        slug=slug,
        mode=mode,
        practice_count=practice_count,
        test_count=test_count,
        time_limit_s=time_limit_s,
        answers_after_practice=answers_after_practice,
        answers_after_test=answers_after_test,
        consent_text=str(consent_text).strip(),
        questions=questions,
        seed=seed,
        practice_ids=practice_ids,
        test_ids=test_ids,
        link_token=secrets.token_urlsafe(32),
        closes_at=closes_at,
        completion_url=completion_url or "",
        completion_code=completion_code,
        screened_out_url=screened_out_url or "",
        store_raw_platform_ids=bool(store_raw_platform_ids),
        max_participants=max_participants,
        quotas=quotas,
        comprehension=comprehension,
        catch_ids=catch_ids,
        catch_answers=catch_answers,
        exclusion_rules=exclusion_rules,
        debrief_text=str(debrief_text).strip(),
        order_design=order_design,
        instructions=instructions or [],
        bonus_rate=bonus_rate,
        bonus_cap=bonus_cap,
        bonus_currency=bonus_currency,
    )
    if instructions is None:  # today's words with the study's numbers, stored: they are versioned
        study.instructions = instructions_pages(study)
        study.save(update_fields=["instructions"])
    return study


def instructions_pages(study):
    """The study's instructions pages; its default page on a study made before pages existed."""
    if study.instructions:
        return list(study.instructions)
    return study_rules.default_instructions(
        practice=study.practice_count,
        test_trials=study.test_trials,
        catch=len(study.catch_ids),
        views=study_selectors.views_per_location_text(study),
        city_mode=study.mode == Game.CITY,
        time_limit_s=study.time_limit_s,
        answers_after_practice=study.answers_after_practice,
        answers_after_test=study.answers_after_test,
    )


def study_is_open(study, now=None):
    return study.status == Study.OPEN and (
        study.closes_at is None or (now or timezone.now()) < study.closes_at
    )


def study_refusal(study, now=None):
    """(status, message) when the study takes no newcomers now, else None."""
    if study.status == Study.PAUSED:
        return 503, ERR_STUDY_PAUSED
    if not study_is_open(study, now):
        return 410, ERR_STUDY_CLOSED
    return None


def study_set_status(study, status):
    """Pause, close early or reopen a study (its participants may always finish)."""
    if status not in dict(Study.STATUS_CHOICES):
        raise GameError(f"status must be one of: {', '.join(dict(Study.STATUS_CHOICES))}")
    Study.objects.filter(id=study.id).update(status=status)
    study.status = status
    return study


def participant_join(
    *, study, answers=None, platform_query=None, comprehension_answers=None, pilot=False, now=None
):
    """A new anonymous participant who has consented, with their own location order.

    `platform_query`: the study link's query string (Prolific's PROLIFIC_PID, STUDY_ID, SESSION_ID;
    MTurk's workerId, assignmentId, hitId; or ?pid=). The person's id there is kept as a peppered
    hash (raw too if the study says so); a second join with it is refused (409), as is one over a
    quota. The study's row is locked while counting, so concurrent joins cannot overfill a quota,
    and while taking the next row of its Latin square, so no two participants get the same turn.

    `pilot`: a staff member's pilot run (the view checks who may): it joins a paused or closed
    study too, keeps no platform id, counts towards no quota, takes no row of the Latin square
    (it plays row 0) and stays out of every export, count and report unless they ask for pilots."""
    if not pilot:
        refusal = study_refusal(study, now)
        if refusal:
            raise GameError(refusal[1], status=refusal[0])
    try:
        answers = study_rules.clean_answers(answers, study.questions)
        platform, ids = ("", {}) if pilot else study_rules.platform_ids(platform_query or {})
    except ValueError as exc:
        raise GameError(str(exc)) from None
    if study.comprehension and not study_rules.comprehension_passed(
        study.comprehension, comprehension_answers or {}
    ):
        raise GameError(ERR_COMPREHENSION)
    id_hash = (
        study_rules.platform_id_hash(platform, ids, settings.GEOGAME_STUDY_ID_PEPPER) if platform else ""
    )
    order_seed = secrets.randbits(62)
    try:
        with transaction.atomic():
            locked = Study.objects.select_for_update().get(id=study.id)
            refusal = None if pilot else study_refusal(locked, now)
            if refusal:
                raise GameError(refusal[1], status=refusal[0])
            joined = Participant.objects.filter(study=locked, pilot=False)
            if id_hash and joined.filter(platform_id_hash=id_hash).exists():
                raise GameError(ERR_PLATFORM_REPEAT, status=409)
            group_counts = {
                (key, choice): joined.filter(**{f"answers__{key}": choice}).count()
                for key, limits in locked.quotas.items()
                for choice in limits
                if answers.get(key) == choice
            }
            full = (
                None
                if pilot
                else study_rules.quota_refusal(
                    joined=joined.count(),
                    max_participants=locked.max_participants,
                    group_counts=group_counts,
                    quotas=locked.quotas,
                    answers=answers,
                )
            )
            if full:
                raise GameError(full, status=409, result=QUOTA_FULL)
            row = None
            if locked.order_design == Study.LATIN_SQUARE:
                row = 0 if pilot else locked.orders_assigned
                if not pilot:  # the next participant takes the next row (k mod rows)
                    Study.objects.filter(id=locked.id).update(orders_assigned=models.F("orders_assigned") + 1)
            order = study_rules.participant_order(
                locked.practice_ids, locked.test_ids, order_seed, design=locked.order_design, row=row
            )
            order = study_rules.insert_catch_trials(
                order, len(locked.practice_ids), locked.catch_ids, order_seed
            )
            player = Player.objects.create(display_name="Participant")
            game = Game.objects.create(
                player=player,
                map=study.map,
                mode=study.mode,
                rounds_total=len(order),
                time_limit_s=study.time_limit_s,
                seed=0,
                location_order=order,
            )
            return Participant.objects.create(
                study=study,
                player=player,
                game=game,
                answers=answers,
                order_seed=order_seed,
                platform=platform,
                platform_id_hash=id_hash,
                platform_ids=ids if study.store_raw_platform_ids else {},
                consent_sha256=hashlib.sha256(study.consent_text.encode()).hexdigest(),
                instructions_sha256=study_rules.instructions_sha256(instructions_pages(locked)),
                pilot=pilot,
                order_design=locked.order_design,
                order_row=row,
            )
    except IntegrityError:  # the same platform id joined at the same moment
        raise GameError(ERR_PLATFORM_REPEAT, status=409) from None


def needs_test_start(participant, index):
    """Whether trial `index` is the first test trial and the participant has not yet started the
    test from the page that announces it."""
    study = participant.study
    return index == study.practice_count and study.practice_count > 0 and participant.test_started_at is None


def test_start(*, participant, now=None):
    """The participant starts the test phase (the marked boundary after the practice)."""
    if participant.test_started_at is None:
        participant.test_started_at = now or timezone.now()
        participant.save(update_fields=["test_started_at"])


def _trial_record(participant, rnd):
    """The Trial row of a round that is now on screen (created at its first display)."""
    choices = []
    if participant.game.mode == Game.CITY:
        choices = study_rules.choice_order(
            city_centres(participant.game.map), participant.order_seed, rnd.index
        )
    trial, _ = Trial.objects.get_or_create(
        participant=participant,
        index=rnd.index,
        defaults={"first_shown_at": rnd.started_at, "shown_at": rnd.started_at, "choice_order": choices},
    )
    return trial


def trial_on_screen(*, participant, now=None):
    """The round the participant's page shows (geogame.game.services.round_shown: the latest, or the
    first one started now), with its Trial row."""
    rnd = services.round_shown(game=participant.game, now=now)
    if rnd is not None:
        _trial_record(participant, rnd)
    return rnd


def trial_resumed(*, participant, now=None):
    """The participant's page was opened again: if a trial is on screen and unanswered, it is
    shown anew now, and its time_taken_s counts from here (the time away is not counted)."""
    rnd = participant.game.rounds.order_by("-index").first()
    if rnd is None or services.round_is_done(round=rnd, player=participant.player, now=now):
        return None
    trial = _trial_record(participant, rnd)
    Trial.objects.filter(id=trial.id).update(shown_at=now or timezone.now(), displays=trial.displays + 1)
    return trial


def trial_current(*, participant, now=None):
    """The trial to answer now (a Round), starting the next one once the last is answered;
    None when the participant has answered them all."""
    latest = participant.game.rounds.order_by("-index").first()
    upcoming = 0 if latest is None else latest.index + 1
    if (
        latest is not None
        and needs_test_start(participant, upcoming)
        and services.round_is_done(round=latest, player=participant.player, now=now)
    ):
        raise GameError(ERR_TEST_NOT_STARTED, status=409)
    rnd = services.round_next(game=participant.game, now=now)
    if rnd is None:
        if participant.finished_at is None:
            participant.finished_at = now or timezone.now()
            participant.save(update_fields=["finished_at"])
        return None
    _trial_record(participant, rnd)
    return rnd


def _client_measure(value, name, limit):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
        raise GameError(f"'{name}' must be a number from 0 to {limit}")
    return int(value)


def trial_guess(*, participant, index, phase=None, client=None, now=None, **guess):
    """Score and store the participant's answer to trial `index`. Returns (guess, created).

    Only trials already shown to this participant can be answered; a resubmission returns the
    first answer unchanged. `phase`, when the client sends it, must be the trial's phase: a
    client that thinks it is in another phase than the server is out of step and is refused.
    """
    study = participant.study
    if phase is not None and phase not in (study_rules.PRACTICE, study_rules.TEST):
        raise GameError(ERR_BAD_PHASE)
    rnd = participant.game.rounds.filter(index=index).select_related("location", "game__map").first()
    if rnd is None:
        raise GameError(ERR_NO_TRIAL, status=404)
    actual = study_rules.phase_of(index, study.practice_count)
    if phase is not None and phase != actual:
        raise GameError(ERR_WRONG_PHASE.format(number=index + 1, actual=actual, claimed=phase), status=409)
    client = client or {}
    if not isinstance(client, dict):
        raise GameError("'client' must be an object of browser measurements")
    measured = {
        "hidden_ms": _client_measure(client.get("hidden_ms"), "hidden_ms", MAX_CLIENT_MS),
        "blur_count": _client_measure(client.get("blur_count"), "blur_count", MAX_CLIENT_COUNT),
        "rt_ms": _client_measure(client.get("rt_ms"), "rt_ms", MAX_CLIENT_MS),
    }
    guess, created = services.guess_submit(round=rnd, player=participant.player, now=now, **guess)
    if created:
        trial = _trial_record(participant, rnd)
        Trial.objects.filter(id=trial.id).update(**measured)
    if created and index == participant.game.rounds_total - 1:
        trial_current(participant=participant, now=now)  # none left: marks the participant finished
    return guess, created


def participant_withdraw(participant):
    """Delete everything the participant left: their player, game, trials and answers. The study
    keeps only the count of withdrawals; reports made before are stripped of them (the signal)."""
    study, public_id = participant.study, str(participant.public_id)
    with transaction.atomic():
        participant.player.delete()  # cascades to the game, its rounds and guesses, and the participant
        if not participant.pilot:  # a pilot run is no participant of the CONSORT counts
            Study.objects.filter(id=study.id).update(withdrawn_count=models.F("withdrawn_count") + 1)
        # In the same transaction: a report that cannot be stripped stops the withdrawal from
        # happening half-way (the person can ask again), and no report outlives their rows.
        participant_withdrawn.send(sender=Study, study=study, public_id=public_id)


def audit_record(*, study, user, action, detail=""):
    """Note a staff export, deletion or status change of the study (StudyAuditEvent)."""
    return StudyAuditEvent.objects.create(
        study=study, staff_user=getattr(user, "username", "") or "?", action=action, detail=detail[:200]
    )
