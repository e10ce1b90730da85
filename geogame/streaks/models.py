import uuid

from django.db import models

from geogame.maps.models import Location, Map, ShowsPlace
from players.models import Player


class Streak(models.Model):
    """One run of country guesses on a map, by a person or a machine player, until a wrong answer,
    a timeout or `max_length` right answers in a row."""

    ACTIVE = "active"
    ENDED = "ended"
    STATUS_CHOICES = [(ACTIVE, "active"), (ENDED, "ended")]
    WRONG = "wrong"
    TIMEOUT = "timeout"
    COMPLETE = "complete"  # max_length right answers, or no free place left
    END_CHOICES = [(WRONG, "wrong country"), (TIMEOUT, "out of time"), (COMPLETE, "every place answered")]

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="streaks")
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="streaks")
    is_machine = models.BooleanField()
    # The planned places, in order (drawn at the start by the fair-contest rules); a round takes the
    # next one still free when it starts.
    location_order = models.JSONField()
    max_length = models.PositiveSmallIntegerField()
    length = models.PositiveSmallIntegerField(default=0)  # right answers in a row
    status = models.CharField(max_length=8, choices=STATUS_CHOICES, default=ACTIVE)
    end_reason = models.CharField(max_length=8, choices=END_CHOICES, blank=True, default="")
    round_time_s = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["map", "is_machine", "status", "-length"], name="streak_board")]

    def __str__(self):
        return f"streak {self.public_id}"


class StreakRound(ShowsPlace, models.Model):
    streak = models.ForeignKey(Streak, on_delete=models.CASCADE, related_name="rounds")
    index = models.PositiveSmallIntegerField()
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    # Random per round: the only handle the client gets on the images.
    image_key = models.CharField(max_length=43, unique=True)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    guess_code = models.CharField(max_length=2, blank=True, default="")  # "": none (or timed out)
    correct = models.BooleanField(null=True, blank=True)  # None: not answered yet
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["streak_id", "index"]
        constraints = [models.UniqueConstraint(fields=["streak", "index"], name="unique_streak_round")]

    def __str__(self):
        return f"round {self.index + 1} of {self.streak_id}"
