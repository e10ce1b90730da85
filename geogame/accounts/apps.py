from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Optional accounts: sign-up, log-in, password reset, the player's history and replays."""

    name = "geogame.accounts"
    label = "accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .services import games_move_on_login

        user_logged_in.connect(games_move_on_login, dispatch_uid="geogame.accounts.games_move_on_login")
