from django.db import models

from geogame.maps.models import Map


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
