from django.apps import AppConfig


class StreaksConfig(AppConfig):
    """Country streaks: name the country of one place after another until a wrong answer
    (docs/streaks.md). Beside the leaderboards: it knows maps, players and the game's location pools."""

    name = "geogame.streaks"
    label = "streaks"
