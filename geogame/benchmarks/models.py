import uuid

from django.db import models

from geogame.maps.models import Map
from geogame.studies.models import Study


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
    # Set when a participant withdrew after the report was made (geogame.benchmarks.withdrawal).
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_reason = models.TextField(blank=True, default="")
    withdrawn_since = models.PositiveIntegerField(default=0)
    # When the report was last rebuilt without the withdrawn participants (benchmark_rebuild).
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "geogame_benchmarkreport"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"benchmark of {self.map.slug} at {self.created_at:%Y-%m-%d %H:%M}"
