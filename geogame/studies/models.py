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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_study"
        verbose_name_plural = "studies"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class Participant(models.Model):
    """One person taking a study, known only by an anonymous id. Their rounds are the rounds
    of `game` (practice first, then test); their guesses are those of `player`."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    player = models.OneToOneField(Player, on_delete=models.CASCADE, related_name="participant")
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="participant")
    answers = models.JSONField(default=dict, blank=True)  # the optional self-reported fields
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "geogame_participant"
        ordering = ["study_id", "created_at", "id"]

    def __str__(self):
        return f"participant {self.public_id}"
