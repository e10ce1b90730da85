from django.db import models

from geogame.models import Map


class TrainedModel(models.Model):
    """A versioned training run of one learned player on one map.

    The weights, label map, config and metrics live in `directory` (see
    inference.artefacts); this row registers them and carries training progress.
    A run claims the row (claimed_by, claimed_at) and beats (heartbeat_at) while it trains:
    see inference.training.trained_model_claim.
    """

    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"
    STATUS_CHOICES = [(TRAINING, "training"), (READY, "ready"), (FAILED, "failed")]

    map = models.ForeignKey(Map, on_delete=models.CASCADE, related_name="trained_models")
    player_name = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=TRAINING)
    progress = models.FloatField(default=0.0)  # 0..1 while training
    directory = models.CharField(max_length=500, blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, default="")  # the run (task id) training it
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["map_id", "player_name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["map", "player_name", "version"], name="unique_model_version")
        ]

    def __str__(self):
        return f"{self.player_name} v{self.version} on {self.map.slug}"


class PrivacyCheck(models.Model):
    """A privacy check its user chose to keep: the caption, the result as shown, and the photos
    (PrivacyCheckPhoto). Checks are not stored unless the user opts in."""

    map = models.ForeignKey(Map, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    caption = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"privacy check {self.id} ({self.created_at:%Y-%m-%d})"


class PrivacyCheckPhoto(models.Model):
    """One kept photo, re-encoded as a JPEG with no metadata: its EXIF GPS is not kept."""

    privacy_check = models.ForeignKey(PrivacyCheck, on_delete=models.CASCADE, related_name="photos")
    index = models.PositiveSmallIntegerField()
    image = models.FileField(upload_to="privacy/")
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["privacy_check_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["privacy_check", "index"], name="unique_privacy_photo_index")
        ]

    def __str__(self):
        return f"photo {self.index} of privacy check {self.privacy_check_id}"
