import uuid

from django.db import models

from players.models import Player

from .rules import DEFAULT_SPLIT_FRACTIONS, LEGACY_SPLIT_FRACTIONS
from .scoring import WORLD_SCALE_KM


def default_split_fractions():
    return dict(DEFAULT_SPLIT_FRACTIONS)


def legacy_split_fractions():
    """What maps imported before the play split existed were split by (migration 0006)."""
    return dict(LEGACY_SPLIT_FRACTIONS)


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
    # {split: fraction} for locations whose manifest names no split (geogame.rules.split_fractions);
    # set at import (import_map --splits), changed only by `manage.py resplit`.
    split_fractions = models.JSONField(default=default_split_fractions)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Location(models.Model):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    PLAY = "play"  # held out for machine games: never trained on, never in a study
    SPLIT_CHOICES = [(TRAIN, "train"), (VAL, "val"), (TEST, "test"), (PLAY, "play")]
    MACHINE_SPLITS = (TEST, PLAY)  # what a machine game may draw from (geogame.location_pools)

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

    def __str__(self):
        return f"view {self.index} of {self.location_id}"


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
    # locations (geogame.services.game_location_ids). A study fixes it per participant.
    location_order = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"game {self.public_id}"


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
        constraints = [models.UniqueConstraint(fields=["round", "player"], name="one_guess_per_player")]

    def __str__(self):
        return f"guess by {self.player_id} in round {self.round_id}"


class Duel(models.Model):
    """Two sides play the same rounds (the rounds of `game`) and lose health on the point
    difference (geogame.duel_rules). The state a client sees lives in this row and changes
    only in geogame.duel_services, one event at a time; `version` counts the events."""

    WAITING = "waiting"  # for an invited human to join
    ACTIVE = "active"
    FINISHED = "finished"
    STATUS_CHOICES = [(WAITING, "waiting for a player"), (ACTIVE, "playing"), (FINISHED, "finished")]

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The map, the location order (seed), the round clock and the maximum number of rounds.
    game = models.OneToOneField(Game, on_delete=models.CASCADE, related_name="duel")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=WAITING)
    version = models.PositiveIntegerField(default=0)
    health = models.JSONField(default=list)  # [side 0, side 1]
    round_index = models.SmallIntegerField(null=True, blank=True)  # None before the first round
    round_open = models.BooleanField(default=False)  # the current round takes guesses
    # Seats whose guess for the current round has been announced (a machine's only after it "thought").
    guessed = models.JSONField(default=list)
    next_round_at = models.DateTimeField(null=True, blank=True)
    results = models.JSONField(default=list)  # one frozen round_result payload per finished round
    winner_seat = models.SmallIntegerField(null=True, blank=True)  # None: playing, or a draw
    end_reason = models.CharField(max_length=20, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The workers' sweep (duel_services.duels_advance_overdue) looks at active duels every second.
        indexes = [models.Index(fields=["status"], condition=models.Q(status="active"), name="duel_active")]

    def __str__(self):
        return f"duel {self.public_id}"

    @property
    def map(self):
        return self.game.map

    @property
    def max_rounds(self):
        return self.game.rounds_total


class DuelSeat(models.Model):
    """A player in a duel. Seats 0 and 1 are the two sides; seat 2, if any, is a machine
    that guesses along in a duel between two humans, for comparison only."""

    SIDES = (0, 1)

    duel = models.ForeignKey(Duel, on_delete=models.CASCADE, related_name="seats")
    seat = models.PositiveSmallIntegerField()
    # Empty until the invited human opens the invite link.
    player = models.ForeignKey(
        Player, null=True, blank=True, on_delete=models.CASCADE, related_name="duel_seats"
    )
    invite_token = models.CharField(max_length=43, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["duel_id", "seat"]
        constraints = [
            models.UniqueConstraint(fields=["duel", "seat"], name="unique_duel_seat"),
            models.UniqueConstraint(
                fields=["duel", "player"],
                condition=models.Q(player__isnull=False),
                name="one_seat_per_player",
            ),
        ]

    def __str__(self):
        return f"seat {self.seat} of duel {self.duel_id}"


class MapBuild(models.Model):
    """Building a map from Street View or Mapillary (geogame.builder): its plan and its progress.

    Points are sampled reproducibly from `regions` with `seed`; each one tried is a BuildPoint, so
    a stopped build resumes where it was. The key or token is never stored here.
    """

    STREETVIEW = "streetview"
    MAPILLARY = "mapillary"
    PROVIDER_CHOICES = [(STREETVIEW, "Google Street View"), (MAPILLARY, "Mapillary")]

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # quota, budget or time limit reached, or the provider kept failing: resumable
    FAILED = "failed"  # refused key, bad request, a bug: fix, then resume
    STATUS_CHOICES = [(s, s) for s in (QUEUED, RUNNING, DONE, STOPPED, FAILED)]

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="builds")
    provider = models.CharField(max_length=20, choices=PROVIDER_CHOICES)
    regions = models.JSONField()
    per_region = models.PositiveIntegerField()
    seed = models.BigIntegerField(default=0)
    # Image size, search radius, tries per location, request budget: see builder.DEFAULT_OPTIONS.
    options = models.JSONField(default=dict, blank=True)
    # sha256 of what fixes the sampled points (provider, regions, seed, options but the budget):
    # a rerun with the same plan resumes this build instead of starting another.
    plan_key = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    found = models.PositiveIntegerField(default=0)
    tried = models.PositiveIntegerField(default=0)
    # requested, found, skipped by reason, requests by kind, regions that ran out of tries.
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.provider} build {self.id} of {self.map.slug}"


class BuildPoint(models.Model):
    """One sampled point a build has tried, and what came of it."""

    FOUND = "found"
    DUPLICATE = "duplicate"
    NO_IMAGERY = "no_imagery"
    REJECTED = "rejected"
    ERROR = "error"  # retries ran out; tried again when the build resumes
    OUTCOME_CHOICES = [(o, o) for o in (FOUND, DUPLICATE, NO_IMAGERY, REJECTED, ERROR)]
    FINAL = (FOUND, DUPLICATE, NO_IMAGERY, REJECTED)

    build = models.ForeignKey(MapBuild, on_delete=models.CASCADE, related_name="points")
    region_index = models.PositiveIntegerField()
    point_index = models.PositiveIntegerField()
    lat = models.FloatField()
    lon = models.FloatField()
    outcome = models.CharField(max_length=12, choices=OUTCOME_CHOICES)
    detail = models.TextField(blank=True, default="")
    source_id = models.CharField(max_length=200, blank=True, default="")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["build_id", "region_index", "point_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["build", "region_index", "point_index"], name="unique_build_point"
            ),
        ]

    def __str__(self):
        return f"build {self.build_id} point {self.region_index}/{self.point_index}: {self.outcome}"


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
    the map's test split (geogame.study_rules), so machine players are measured on exactly the
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
        ordering = ["study_id", "created_at", "id"]

    def __str__(self):
        return f"participant {self.public_id}"


def report_upload_to(instance, filename):
    return f"reports/{instance.public_id}/{filename}"


class BenchmarkReport(models.Model):
    """Humans and machine players on the same test locations (`manage.py benchmark`).

    `data` holds every figure of the report; `provenance` says what produced it (artefact
    versions, the locations, the study and its rows); plots and CSV/JSON exports are files
    under MEDIA_ROOT/reports/<public_id>/."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="benchmark_reports")
    study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="benchmark_reports"
    )
    data = models.JSONField(default=dict)
    provenance = models.JSONField(default=dict)
    files = models.JSONField(default=list)  # names under reports/<public_id>/
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"benchmark of {self.map.slug} at {self.created_at:%Y-%m-%d %H:%M}"
