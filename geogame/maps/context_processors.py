"""What every page's maps draw: the offline base map's layers and the optional tile server
(settings.TILE_URL), given to static/geogame/common.js through json_script in base.html."""

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse


def basemap(request):
    return {
        "basemap": {
            "outlines_url": static("vendor/world-atlas/countries-50m.json"),
            "cities_url": reverse("basemap-cities"),
            "lakes_url": reverse("basemap-lakes"),
            "admin1_url": reverse("basemap-admin1"),
            "tile_url": settings.TILE_URL or None,
            "tile_attribution": settings.TILE_ATTRIBUTION or None,
        }
    }
