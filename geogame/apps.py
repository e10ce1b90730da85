from django.apps import AppConfig


class GeogameConfig(AppConfig):
    """The app label every table was created under. It keeps the migration history (0001-0007) and
    the migration that handed its models to the area apps (0008); it has no models of its own."""

    name = "geogame"
