from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """The privacy check: how well a caption and photos give a place away."""

    name = "geogame.privacy"
    label = "privacy"

    def ready(self):
        from players import retention

        from .services import privacy_checks_purge

        retention.register_purge("privacy_checks", privacy_checks_purge, "GEOGAME_PRIVACY_RETENTION_DAYS")
