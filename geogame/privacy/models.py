from django.db import models

from geogame.maps.models import Map


class PrivacyCheck(models.Model):
    """A privacy check its user chose to keep: the caption, the result as shown, and the photos
    (PrivacyCheckPhoto). Checks are not stored unless the user opts in."""

    map = models.ForeignKey(Map, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    caption = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "inference_privacycheck"
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
        db_table = "inference_privacycheckphoto"
        ordering = ["privacy_check_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["privacy_check", "index"], name="unique_privacy_photo_index")
        ]

    def __str__(self):
        return f"photo {self.index} of privacy check {self.privacy_check_id}"
