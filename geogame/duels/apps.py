from django.apps import AppConfig


class DuelsConfig(AppConfig):
    """Duels: two sides play the same rounds over a WebSocket and lose health on the difference."""

    name = "geogame.duels"
    label = "duels"

    def ready(self):
        from geogame.game import hooks, location_pools

        from . import selectors, sweep  # noqa: F401  (sweep: the workers' sweep thread, on worker_ready)

        location_pools.reservation_source(
            selectors.running_duel_location_ids, for_duels=False, for_studies=False
        )
        hooks.register(seated=selectors.seated_player_ids, is_duel=selectors.DUEL_GAMES)
