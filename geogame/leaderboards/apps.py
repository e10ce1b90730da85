from django.apps import AppConfig


class LeaderboardsConfig(AppConfig):
    """Leaderboards per map and mode, read from materialised game totals."""

    name = "geogame.leaderboards"
    label = "leaderboards"

    def ready(self):
        from django.db.models.signals import post_save

        from geogame.game.models import Guess

        from .services import guess_saved

        post_save.connect(guess_saved, sender=Guess, dispatch_uid="geogame.leaderboards.guess_saved")
