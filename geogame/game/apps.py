from django.apps import AppConfig


class GameConfig(AppConfig):
    """The classic game: games, rounds, guesses, scoring and which locations a game may draw."""

    name = "geogame.game"
    label = "game"
