"""Reads for the privacy check page."""

from geogame.game.machines import availability
from geogame.maps.models import Map

from .services import PLAYER


def privacy_maps():
    """[{slug, name, unavailable}] for every map; `unavailable` says why its hierarchical
    player cannot score a photo, or is None."""
    return [
        {"slug": m.slug, "name": m.name, "unavailable": availability(PLAYER, m)}
        for m in Map.objects.order_by("name")
    ]
