from django.apps import AppConfig


class RankedConfig(AppConfig):
    """Ranked: Glicko-2 ratings per map for people and machine player artefacts, from ranked duels
    and machine calibration games. Below the game layer: it knows players and maps, and games only
    by the id its rating events hold."""

    name = "geogame.ranked"
    label = "ranked"
