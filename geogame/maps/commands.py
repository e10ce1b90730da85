"""What management commands share about maps."""

from django.core.management.base import CommandError

from .models import Map


def map_for_command(slug):
    """The map `slug` names, or a one-line CommandError that lists the maps there are."""
    m = Map.objects.filter(slug=slug).first()
    if m is None:
        slugs = Map.objects.order_by("slug").values_list("slug", flat=True)
        known = ", ".join(slugs) or "none; import one first"
        raise CommandError(f"unknown map {slug!r}; maps: {known}")
    return m
