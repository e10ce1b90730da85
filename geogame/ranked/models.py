from django.db import models

from geogame.maps.models import Map
from players.models import Player

from . import glicko2


class Rating(models.Model):
    """A player's Glicko-2 rating on one map. A machine player has one per artefact (`artefact`,
    e.g. "v3" for the third trained version): a retrained model starts afresh. People, and machine
    players without artefacts (random, centroid), have artefact ""."""

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="ratings")
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="ratings")
    artefact = models.CharField(max_length=64, blank=True, default="")
    rating = models.FloatField(default=glicko2.START_RATING)
    deviation = models.FloatField(default=glicko2.START_DEVIATION)
    volatility = models.FloatField(default=glicko2.START_VOLATILITY)
    games = models.PositiveIntegerField(default=0)
    machine_games = models.PositiveIntegerField(default=0)  # of `games`: calibration, machine vs machine
    rated_at = models.DateTimeField(null=True, blank=True)  # its last game; idle periods count from here

    class Meta:
        ordering = ["map_id", "-rating"]
        constraints = [
            models.UniqueConstraint(fields=["player", "map", "artefact"], name="one_rating_per_artefact")
        ]

    def __str__(self):
        return f"{self.player} on {self.map_id}: {self.rating:.0f} ± {self.deviation:.0f}"

    def as_glicko(self):
        return glicko2.Rating(self.rating, self.deviation, self.volatility)


class RatingEvent(models.Model):
    """One rated game. Its game is unique: a game is rated once, however many workers finish it."""

    DUEL = "duel"
    CALIBRATION = "calibration"
    KIND_CHOICES = [(DUEL, "ranked duel"), (CALIBRATION, "machine vs machine (calibration)")]

    game = models.OneToOneField("game.Game", on_delete=models.CASCADE, related_name="rating_event")
    kind = models.CharField(max_length=12, choices=KIND_CHOICES)
    # Per side: {"rating": id, "score", "before": [rating, deviation], "after": [rating, deviation]}
    sides = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.kind} rating of game {self.game_id}"
