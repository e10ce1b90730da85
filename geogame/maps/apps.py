from django.apps import AppConfig


class MapsConfig(AppConfig):
    """Maps and their locations: importing, building from Street View or Mapillary, splits."""

    name = "geogame.maps"
    label = "maps"
