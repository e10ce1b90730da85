import secrets
import uuid

from django.db import models

from geogame.game.models import Game
from geogame.maps.models import Map
from players.models import Player


def default_study_questions():
    return [
        {
            "key": "familiarity",
            "label": "How well do you know the places in this study?",
            "choices": ["not at all", "a little", "well", "very well"],
        },
        {
            "key": "geoguessr",
            "label": "Have you played GeoGuessr or a game like it?",
            "choices": ["never", "a few times", "often"],
        },
    ]


class Study(models.Model):
    """A human-baseline study on a map under a fixed protocol (seed 003).

    Every participant plays the same practice locations, then the same test locations, each
    phase in the participant's own seeded order; both sets are drawn once, at creation, from
    the map's test split (geogame.studies.rules), so machine players are measured on exactly the
    locations the humans saw and never trained on them.
    """

    map = models.ForeignKey(Map, on_delete=models.PROTECT, related_name="studies")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    mode = models.CharField(max_length=12, choices=Game.MODE_CHOICES, default=Game.CITY)
    practice_count = models.PositiveSmallIntegerField(default=25)
    test_count = models.PositiveSmallIntegerField(default=50)
    time_limit_s = models.PositiveIntegerField(null=True, blank=True)
    answers_after_practice = models.BooleanField(default=True)
    answers_after_test = models.BooleanField(default=False)
    consent_text = models.TextField()
    # Optional self-reported fields: [{"key", "label", "choices": [...]}, ...].
    questions = models.JSONField(default=default_study_questions, blank=True)
    seed = models.BigIntegerField()
    practice_ids = models.JSONField(default=list)
    test_ids = models.JSONField(default=list)
    # The secret part of the study link.
    link_token = models.CharField(max_length=43, unique=True)
    closes_at = models.DateTimeField(null=True, blank=True)  # the link expires then
    # Staff pause a study (newcomers wait), close it early, and reopen it.
    OPEN, PAUSED, CLOSED = "open", "paused", "closed"
    STATUS_CHOICES = [(OPEN, "open"), (PAUSED, "paused"), (CLOSED, "closed")]
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=OPEN)
    # Recruitment: where a finished participant is sent (Prolific's completion URL, say) and the
    # code they are shown; where someone who does not consent or is screened out is sent.
    completion_url = models.URLField(max_length=500, blank=True, default="")
    completion_code = models.CharField(max_length=64, blank=True, default="")
    screened_out_url = models.URLField(max_length=500, blank=True, default="")
    # Platform ids (Prolific, MTurk, ?pid=) are kept as a peppered hash; raw too only if this is set.
    store_raw_platform_ids = models.BooleanField(default=False)
    # Quotas: at most this many participants; and per self-reported answer {question: {choice: n}}.
    max_participants = models.PositiveIntegerField(null=True, blank=True)
    quotas = models.JSONField(default=dict, blank=True)
    # Data quality. A comprehension check on the join page: [{"question", "choices", "answer"}];
    # catch trials (city mode): locations outside the test split shown among the test trials with an
    # instructed answer ({location id: city}); pre-declared exclusion rules the benchmark applies
    # (geogame.studies.rules.EXCLUSION_RULES).
    comprehension = models.JSONField(default=list, blank=True)
    catch_ids = models.JSONField(default=list, blank=True)
    catch_answers = models.JSONField(default=dict, blank=True)
    exclusion_rules = models.JSONField(default=dict, blank=True)
    # Shown on the last page, after the completion code (what the study was about, whom to ask).
    debrief_text = models.TextField(blank=True, default="")
    # Participants who withdrew: their data is gone, the fact is kept (CONSORT-style counts).
    withdrawn_count = models.PositiveIntegerField(default=0)
    # The test locations' order: a balanced Latin square over them (participant k gets row k mod
    # rows, k counted in orders_assigned under the study's row lock) or shuffled per participant.
    RANDOM_ORDER, LATIN_SQUARE = "random", "latin_square"
    ORDER_CHOICES = [(LATIN_SQUARE, "balanced Latin square"), (RANDOM_ORDER, "random per participant")]
    order_design = models.CharField(max_length=12, choices=ORDER_CHOICES, default=LATIN_SQUARE)
    orders_assigned = models.PositiveIntegerField(default=0)
    # Instructions pages (plain text), shown in turn before the consent and comprehension check.
    # Empty on studies made before pages existed: they show the default page (rules).
    instructions = models.JSONField(default=list, blank=True)
    # A performance bonus: `bonus_rate` money per 1000 test points, at most `bonus_cap`.
    bonus_rate = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    bonus_cap = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    bonus_currency = models.CharField(max_length=3, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_study"
        verbose_name_plural = "studies"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def test_trials(self):
        """Trials in the test phase: the test locations and the catch trials among them."""
        return self.test_count + len(self.catch_ids)


def new_resume_token():
    return secrets.token_urlsafe(32)


class Participant(models.Model):
    """One person taking a study, known only by an anonymous id. Their rounds are the rounds
    of `game` (practice first, then test); their guesses are those of `player`.

    `public_id` is the id the person reports to the researchers (to withdraw, to be paid): it
    opens nothing. `resume_token` is the secret in their page's address, the only credential that
    answers or withdraws for them; it is never shown apart from that address."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    resume_token = models.CharField(max_length=43, unique=True, default=new_resume_token, editable=False)
    # Seeds the participant's location order and each trial's answer-button order (rules).
    order_seed = models.BigIntegerField(null=True, blank=True)
    # When they started the test phase from the page that announces it (after the practice).
    test_started_at = models.DateTimeField(null=True, blank=True)
    # The recruitment platform ("prolific", "mturk", "pid" or "") and a peppered hash of the person's
    # id there (geogame.studies.rules.platform_ids); the raw ids only if the study stores them.
    platform = models.CharField(max_length=12, blank=True, default="")
    platform_id_hash = models.CharField(max_length=64, blank=True, default="")
    platform_ids = models.JSONField(default=dict, blank=True)
    # SHA-256 of the consent text they agreed to (the study's text at joining).
    consent_sha256 = models.CharField(max_length=64, blank=True, default="")
    instructions_sha256 = models.CharField(max_length=64, blank=True, default="")
    # A staff member's pilot run: kept apart from every export, count, quota and report unless asked.
    pilot = models.BooleanField(default=False)
    # The study's order design when they joined, and their row of its Latin square (None: random).
    order_design = models.CharField(max_length=12, blank=True, default="")
    order_row = models.PositiveIntegerField(null=True, blank=True)
    player = models.OneToOneField(Player, on_delete=models.CASCADE, related_name="participant")
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="participant")
    answers = models.JSONField(default=dict, blank=True)  # the optional self-reported fields
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "geogame_participant"
        ordering = ["study_id", "created_at", "id"]
        constraints = [
            # One participation per platform id and study, also when two joins race.
            models.UniqueConstraint(
                fields=["study", "platform_id_hash"],
                condition=~models.Q(platform_id_hash=""),
                name="one_participation_per_platform_id",
            )
        ]

    def __str__(self):
        return f"participant {self.public_id}"


class Trial(models.Model):
    """How one trial was shown to a participant, beside its Round and Guess: when it was last put
    on screen (its start, or its resumption after the participant left the page), how often, the
    order of the answer buttons, and what the browser measured (time hidden, focus losses,
    reaction time from the first image's load)."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveSmallIntegerField()
    first_shown_at = models.DateTimeField()
    shown_at = models.DateTimeField()  # the latest display: time_taken_s counts from here
    displays = models.PositiveSmallIntegerField(default=1)
    choice_order = models.JSONField(default=list, blank=True)  # city labels, top to bottom
    hidden_ms = models.PositiveIntegerField(null=True, blank=True)
    blur_count = models.PositiveIntegerField(null=True, blank=True)
    rt_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "geogame_study_trial"
        ordering = ["participant_id", "index"]
        constraints = [models.UniqueConstraint(fields=["participant", "index"], name="one_trial_per_index")]

    def __str__(self):
        return f"trial {self.index} of {self.participant}"


class StudyAuditEvent(models.Model):
    """A staff action on a study's data: an export (which one) or a deletion of a participant's rows.
    Kept when the participant's rows are gone; names the participant by their reported id only."""

    EXPORT, DELETE, STATUS = "export", "delete", "status"
    ACTIONS = [(EXPORT, "export"), (DELETE, "delete"), (STATUS, "status")]

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audit_events")
    staff_user = models.CharField(max_length=150)
    action = models.CharField(max_length=8, choices=ACTIONS)
    detail = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_study_audit"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.action} of {self.study} by {self.staff_user}"
