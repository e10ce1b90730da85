from django.apps import AppConfig


class ChallengesConfig(AppConfig):
    """Challenge links and the daily challenge: games over planned places that many people play."""

    name = "geogame.challenges"
    label = "challenges"

    def ready(self):
        from geogame.game import hooks, location_pools
        from players.signals import players_merged

        from . import selectors, services

        location_pools.reservation_source(services.daily_places_held)
        hooks.register(fixed_order=selectors.PLANNED_ORDER_GAMES)
        players_merged.connect(services.entries_move, dispatch_uid="geogame.challenges.entries_move")
