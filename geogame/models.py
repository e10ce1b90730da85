import uuid

from django.db import models

from players.models import Player

from .scoring import WORLD_SCALE_KM


class Map(models.Model):
    WORLD = "world"
    REGION = "region"
    CITY = "city"
    KIND_CHOICES = [
        (WORLD, "World (coordinates)"),
        (REGION, "Region (coordinates)"),
        (CITY, "Cities (multiple choice)"),
    ]

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=WORLD)
    # D in points = 5000 * exp(-10 d / D); see geogame.scoring.
    scale_km = models.FloatField(default=WORLD_SCALE_KM)
    attribution = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Location(models.Model):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    SPLIT_CHOICES = [(TRAIN, "train"), (VAL, "val"), (TEST, "test")]

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="locations")
    lat = models.FloatField()
    lon = models.FloatField()
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=100, blank=True, default="")
    split = models.CharField(max_length=5, choices=SPLIT_CHOICES)
    source = models.CharField(max_length=50)
    source_id = models.CharField(max_length=200)
    license = models.CharField(max_length=100, blank=True, default="")
    attribution = models.TextField(blank=True, default="")
    captured_at = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["map", "source", "source_id"], name="unique_source_per_map"),
        ]
        indexes = [models.Index(fields=["map", "split"])]

    def __str__(self):
        return f"{self.source}:{self.source_id}"


def view_upload_to(instance, filename):
    # Content-addressed; the path is never shown to players anyway.
    return f"views/{filename[:2]}/{filename}"


class View(models.Model):
    """One image of a location as a player sees it: EXIF-free, resized."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="views")
    index = models.PositiveSmallIntegerField()
    heading = models.FloatField(null=True, blank=True)
    image = models.FileField(upload_to=view_upload_to)
    thumb = models.FileField(upload_to=view_upload_to)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # sha256 of `image`: keys the model feature cache.
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["location_id", "index"]
        constraints = [models.UniqueConstraint(fields=["location", "index"], name="unique_view_index")]


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
    created_at = models.DateTimeField(auto_now_add=True)


class Round(models.Model):
    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="rounds")
    index = models.PositiveSmallIntegerField()
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="rounds")
    # Random per round: the only handle the client gets on the images.
    image_key = models.CharField(max_length=43, unique=True)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["game_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["game", "index"], name="unique_round_index"),
            models.UniqueConstraint(fields=["game", "location"], name="location_once_per_game"),
        ]


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "player"], name="one_guess_per_player")]
