from django.apps import AppConfig


class BotsConfig(AppConfig):
    """Bots: programs outside this server that play as machine players over the bot API."""

    name = "geogame.bots"
    label = "bots"

    def ready(self):
        from geogame.game import hooks, machines

        from . import selectors, services
        from .rules import NAME_PREFIX

        machines.register(
            machines.MachinePlayers(
                names=selectors.bot_machine_names,
                description=selectors.bot_description,
                availability=selectors.bot_availability,
                excluded_location_ids=lambda name, m: set(),
                machine_player_get=selectors.bot_player,
                prefix=NAME_PREFIX,
                offer_round=services.round_offer,
            )
        )
        hooks.register(may_see_round=selectors.may_see_round, fixed_order=selectors.BENCHMARK_GAMES)
