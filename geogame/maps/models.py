from django.db import models
from django.utils.functional import cached_property

from .rules import DEFAULT_SPLIT_FRACTIONS, LEGACY_SPLIT_FRACTIONS, WORLD_SCALE_KM


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
    # D in points = 5000 * exp(-10 d / D); see geogame.game.scoring.
    scale_km = models.FloatField(default=WORLD_SCALE_KM)
    attribution = models.TextField(blank=True, default="")
    # {split: fraction} for locations whose manifest names no split (geogame.maps.rules.split_fractions);
    # set at import (import_map --splits), changed only by `manage.py resplit`.
    split_fractions = models.JSONField(default=default_split_fractions)
    # {"City, Country": [lat, lon]}: the centre of each city's locations, for city mode; refreshed when
    # locations are imported or built (geogame.maps.importer.map_refresh_derived).
    city_centres = models.JSONField(default=dict, blank=True)
    # Offer players a pannable 360-degree view of each place imported from an equirectangular
    # panorama, besides its three fixed headings (which stay the default). Never in a study or a
    # benchmark, which always show the fixed headings (geogame.game.selectors.round_panorama_offered).
    # Set by `import_map --panorama-view on|off`.
    panorama_view = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "geogame_map"

    def __str__(self):
        return self.name


class Location(models.Model):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    PLAY = "play"  # held out for machine games: never trained on, never in a study
    SPLIT_CHOICES = [(TRAIN, "train"), (VAL, "val"), (TEST, "test"), (PLAY, "play")]
    MACHINE_SPLITS = (TEST, PLAY)  # what a machine game may draw from (geogame.game.location_pools)

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="locations")
    lat = models.FloatField()
    lon = models.FloatField()
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=100, blank=True, default="")
    # ISO 3166-1 alpha-2 of the country the coordinates fall in (geogame.maps.countries), set at
    # import; empty: at sea or in no country's polygon. The country streak mode's answer.
    country_code = models.CharField(max_length=2, blank=True, default="")
    split = models.CharField(max_length=5, choices=SPLIT_CHOICES)
    source = models.CharField(max_length=50)
    source_id = models.CharField(max_length=200)
    license = models.CharField(max_length=100, blank=True, default="")
    attribution = models.TextField(blank=True, default="")
    captured_at = models.CharField(max_length=40, blank=True, default="")
    # The equirectangular panorama the views were cut from, when there was one: EXIF-free, at most
    # geogame.maps.importer.PANORAMA_STORED_SIZE, content-addressed like the views; served to a
    # player only as a per-round rendering (geogame.game.round_images.render_panorama).
    panorama = models.FileField(upload_to="views/", blank=True, default="")

    class Meta:
        db_table = "geogame_location"
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
        db_table = "geogame_view"
        ordering = ["location_id", "index"]
        constraints = [models.UniqueConstraint(fields=["location", "index"], name="unique_view_index")]

    def __str__(self):
        return f"view {self.index} of {self.location_id}"


class ShowsPlace:
    """For a round of any kind (a game's, a streak's): a model with a `location` it shows."""

    @cached_property
    def view_count(self):
        """How many views the place has: counted once per object (a request's state, guess and
        result all need it, and a place's views do not change while it is played)."""
        return View.objects.filter(location_id=self.location_id).count()


class MapBuild(models.Model):
    """Building a map from Street View or Mapillary (geogame.maps.builder): its plan and its progress.

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
        db_table = "geogame_mapbuild"
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
        db_table = "geogame_buildpoint"
        ordering = ["build_id", "region_index", "point_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["build", "region_index", "point_index"], name="unique_build_point"
            ),
        ]

    def __str__(self):
        return f"build {self.build_id} point {self.region_index}/{self.point_index}: {self.outcome}"
