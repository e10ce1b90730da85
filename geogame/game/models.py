import uuid

from django.db import models

from geogame.maps.models import Location, Map, ShowsPlace
from players.models import Player


class Game(models.Model):
    COORDINATES = "coordinates"
    CITY = "city"
    MODE_CHOICES = [(COORDINATES, "Pin on the map"), (CITY, "Pick the city")]

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="games")
    # A machine player guessing the same rounds; its guess is shown after the player's.
    opponent = models.ForeignKey(
        Player, null=True, blank=True, on_delete=models.PROTECT, related_name="opposed_games"
    )
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="games")
    mode = models.CharField(max_length=12, choices=MODE_CHOICES, default=COORDINATES)
    rounds_total = models.PositiveSmallIntegerField(default=5)
    time_limit_s = models.PositiveIntegerField(null=True, blank=True)
    seed = models.BigIntegerField()
    # Location ids in the order they are played; None: drawn from `seed` over the playable
    # locations (geogame.game.services.game_location_ids). A study fixes it per participant.
    location_order = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_game"

    def __str__(self):
        return f"game {self.public_id}"


class Round(ShowsPlace, models.Model):
    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="rounds")
    index = models.PositiveSmallIntegerField()
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="rounds")
    # Random per round: the only handle the client gets on the images.
    image_key = models.CharField(max_length=43, unique=True)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "geogame_round"
        ordering = ["game_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["game", "index"], name="unique_round_index"),
            models.UniqueConstraint(fields=["game", "location"], name="location_once_per_game"),
        ]

    def __str__(self):
        return f"round {self.index + 1} of game {self.game_id}"


class Guess(models.Model):
    """One player's answer to one round; never more than one (see guess_submit)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="guesses")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="guesses")
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    city = models.CharField(max_length=100, blank=True, default="")
    # Null when the round timed out with no guess.
    distance_km = models.FloatField(null=True, blank=True)
    points = models.PositiveIntegerField()
    correct = models.BooleanField(null=True, blank=True)
    timed_out = models.BooleanField(default=False)
    time_taken_s = models.FloatField()
    views_seen = models.JSONField(default=list)
    # Milliseconds each view was on screen, by view index, as the client measured it.
    view_ms = models.JSONField(default=list, blank=True)
    # The browser window (CSS pixels) when the guess was made.
    screen_w = models.PositiveIntegerField(null=True, blank=True)
    screen_h = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_guess"
        constraints = [models.UniqueConstraint(fields=["round", "player"], name="one_guess_per_player")]

    def __str__(self):
        return f"guess by {self.player_id} in round {self.round_id}"
