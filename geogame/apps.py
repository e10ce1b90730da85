from django.apps import AppConfig


class GeogameConfig(AppConfig):
    name = "geogame"
