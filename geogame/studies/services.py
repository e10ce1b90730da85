"""Study writes: creating a study, joining it, answering its trials, withdrawing.

A participant's trials are the rounds of their own Game, whose `location_order` is fixed at
joining (geogame.studies.rules.participant_order), so rounds, deadlines, scoring and the one-guess
rule are those of every game (geogame.game.services)."""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from geogame.common import text_input
from geogame.game import services
from geogame.game.models import Game
from geogame.game.selectors import city_centres
from geogame.game.services import GameError
from geogame.maps.models import Location
from players.models import Player

from . import rules as study_rules
from .models import Participant, Study, default_study_questions

ERR_STUDY_CLOSED = "this study link has expired: the study no longer takes new participants"
ERR_NO_TRIAL = "no such trial for this participant"
ERR_WRONG_PHASE = "trial {number} is a {actual} location, not a {claimed} one"
ERR_BAD_PHASE = "'phase' must be 'practice' or 'test'"
ERR_SLUG_TAKEN = "a study named {slug!r} exists already"
MAX_TRIALS = 500
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
):
    """A study on `map` whose practice and test locations are drawn now from its test split."""
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
    seed = secrets.randbits(62) if seed is None else seed
    candidates = list(
        services.playable_locations(map, mode).filter(split=Location.TEST).values_list("id", flat=True)
    )
    try:
        practice_ids, test_ids = study_rules.study_location_sets(candidates, practice_count, test_count, seed)
    except ValueError as exc:
        raise GameError(str(exc)) from None
    return Study.objects.create(
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
    )


def study_is_open(study, now=None):
    return study.closes_at is None or (now or timezone.now()) < study.closes_at


def participant_join(*, study, answers=None, now=None):
    """A new anonymous participant who has consented, with their own seeded location order."""
    if not study_is_open(study, now):
        raise GameError(ERR_STUDY_CLOSED, status=410)
    try:
        answers = study_rules.clean_answers(answers, study.questions)
    except ValueError as exc:
        raise GameError(str(exc)) from None
    order = study_rules.participant_order(study.practice_ids, study.test_ids, secrets.randbits(62))
    with transaction.atomic():
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
        return Participant.objects.create(study=study, player=player, game=game, answers=answers)


def trial_current(*, participant, now=None):
    """The trial to answer now (a Round), starting the next one once the last is answered;
    None when the participant has answered them all."""
    rnd = services.round_next(game=participant.game, now=now)
    if rnd is None and participant.finished_at is None:
        participant.finished_at = now or timezone.now()
        participant.save(update_fields=["finished_at"])
    return rnd


def trial_guess(*, participant, index, phase=None, now=None, **guess):
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
    guess, created = services.guess_submit(round=rnd, player=participant.player, now=now, **guess)
    if created and index == participant.game.rounds_total - 1:
        trial_current(participant=participant, now=now)  # none left: marks the participant finished
    return guess, created


def participant_withdraw(participant):
    """Delete everything the participant left: their player, game, trials and answers."""
    with transaction.atomic():
        participant.player.delete()  # cascades to the game, its rounds and guesses, and the participant
