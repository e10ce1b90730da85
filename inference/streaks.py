"""Machine players' country streaks (geogame.streaks): each answers with the country of its pin, its
lat/lon prediction for the place, on places it never learned from (the streak app draws them)."""

from geogame.game.machines import UnknownPlayer, availability
from geogame.streaks import services as streak_services

from .registry import PLAYERS, load_player
from .services import machine_player_get

ERR_UNAVAILABLE = "machine player {name} cannot play map {slug}: {reason}"


class StreakPlayError(ValueError):
    pass


def streak_players(m, names=None):
    """`names` (each must be able to play `m`; StreakPlayError otherwise), or every player that can."""
    if not names:
        return [name for name in PLAYERS if availability(name, m) is None]
    for name in names:
        try:
            reason = availability(name, m)
        except UnknownPlayer as exc:
            raise StreakPlayError(str(exc)) from None
        if reason:
            raise StreakPlayError(ERR_UNAVAILABLE.format(name=name, slug=m.slug, reason=reason))
    return list(dict.fromkeys(names))


def machine_streak(name, m):
    """One streak of machine player `name` on `m`; the ended Streak."""
    model = load_player(name, m)

    def pin(location):
        prediction = model.predict([location])[0]
        return prediction.lat, prediction.lon

    try:
        return streak_services.machine_streak_play(player=machine_player_get(name), m=m, predict=pin)
    except streak_services.StreakError as exc:
        raise StreakPlayError(exc.message) from None
