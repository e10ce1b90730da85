import uuid

from django.db import models

from geogame.game.models import Game
from geogame.maps.models import Map
from players.models import Player


class Challenge(models.Model):
    """A challenge link: the places of one finished game, in its order, mode and timer, for
    anyone who opens the link to play."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="challenges")
    mode = models.CharField(max_length=12, choices=Game.MODE_CHOICES)
    time_limit_s = models.PositiveIntegerField(null=True, blank=True)
    location_order = models.JSONField()
    source_game = models.OneToOneField(
        Game, null=True, blank=True, on_delete=models.SET_NULL, related_name="challenge_made"
    )
    created_by = models.ForeignKey(Player, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"challenge {self.public_id}"


class ChallengeEntry(models.Model):
    """One player's game in a challenge (the creator's own game is the first)."""

    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="entries")
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="challenge_entry")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="challenge_entries")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "player"], name="one_entry_per_challenge_player")
        ]

    def __str__(self):
        return f"entry of {self.player_id} in challenge {self.challenge_id}"


class DailyChallenge(models.Model):
    """A map's daily challenge for one UTC day: its places, drawn once by map and date."""

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="dailies")
    day = models.DateField()
    mode = models.CharField(max_length=12, choices=Game.MODE_CHOICES, default=Game.COORDINATES)
    location_order = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["map", "day"], name="one_daily_per_map_day")]
        indexes = [models.Index(fields=["day", "map"], name="daily_day_map")]

    def __str__(self):
        return f"daily {self.map_id} {self.day}"


class DailyAttempt(models.Model):
    """The one attempt at a daily of an account, a browser session or a machine player.

    `owner` says whose attempt it is: "user:<id>", "session:<key>" or "machine:<name>"; it is
    unique per daily, so two requests at once from one browser or account make one attempt."""

    daily = models.ForeignKey(DailyChallenge, on_delete=models.CASCADE, related_name="attempts")
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="daily_attempt")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="daily_attempts")
    owner = models.CharField(max_length=80)
    is_machine = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["daily", "owner"], name="one_daily_attempt_per_owner"),
            models.UniqueConstraint(fields=["daily", "player"], name="one_daily_attempt_per_player"),
        ]

    def __str__(self):
        return f"attempt of {self.owner} at daily {self.daily_id}"
