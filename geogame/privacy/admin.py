"""Staff see and delete kept privacy checks in the admin (/admin/privacy/privacycheck/). Deleting
one there deletes its photo files too; the scheduled purge deletes them after
GEOGAME_PRIVACY_RETENTION_DAYS (players/retention.py)."""

from django.contrib import admin

from geogame.privacy.models import PrivacyCheck, PrivacyCheckPhoto
from geogame.privacy.services import privacy_checks_delete


class PrivacyCheckPhotoInline(admin.TabularInline):
    model = PrivacyCheckPhoto
    fields = ("index", "image", "sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PrivacyCheck)
class PrivacyCheckAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "map", "caption_start", "photo_count")
    list_filter = ("created_at", "map")
    date_hierarchy = "created_at"
    readonly_fields = ("map", "caption", "result", "created_at")
    inlines = [PrivacyCheckPhotoInline]

    @admin.display(description="caption")
    def caption_start(self, check):
        return check.caption[:60] + ("…" if len(check.caption) > 60 else "")

    @admin.display(description="photos")
    def photo_count(self, check):
        return check.photos.count()

    def has_add_permission(self, request):
        return False  # checks are kept only by their users, from the privacy check

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        privacy_checks_delete(PrivacyCheck.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        privacy_checks_delete(queryset)
