from django.apps import AppConfig


class StudiesConfig(AppConfig):
    """Human-baseline studies: participants play fixed practice and test locations."""

    name = "geogame.studies"
    label = "studies"

    def ready(self):
        from geogame.game import hooks, location_pools

        from . import selectors

        location_pools.reservation_source(selectors.open_study_location_ids, for_studies=False)
        hooks.register(
            fixed_order=selectors.PARTICIPANT_GAMES,
            may_see_round=selectors.may_see_round,
            fixed_headings=selectors.PARTICIPANT_GAMES,  # a participant's game is the study's
        )
