"""The machine players, as the game sees them. The inference app registers them here when it starts
(InferenceConfig.ready), so the game, duels and studies reach a machine player without importing
inference: inference imports the game, never the reverse.

Other sources of machine players (geogame.bots: programs playing over the bot API) register
with a name `prefix`: every name that starts with it is theirs, the rest inference's."""

from collections.abc import Callable
from dataclasses import dataclass


class UnknownPlayer(ValueError):
    """No machine player has this name."""


@dataclass(frozen=True)
class MachinePlayers:
    names: Callable  # () -> the players' names, in the order they are listed
    description: Callable  # (name) -> one line saying how it plays
    availability: Callable  # (name, map) -> None if it can play the map, else why not; UnknownPlayer
    excluded_location_ids: Callable  # (name, map) -> ids of the map's locations it may have learned from
    machine_player_get: Callable  # (name) -> the Player row that guesses for it
    title: Callable = lambda name: name  # (name) -> the name players see
    blurb: Callable = lambda name: ""  # (name) -> one line for players, without technical terms
    # Names starting with it are this source's; "" for the default source (inference).
    prefix: str = ""
    # (round, player) -> None: the player fetches its rounds itself and has been told of `round`;
    # no model task is queued for it. None: a model task computes its guess.
    offer_round: Callable | None = None
    # (name, map) -> which artefact of the player plays the map now ("v3": a trained model's third
    # version); "" for a player without one. A retrained artefact is rated afresh (geogame.ranked).
    artefact: Callable = lambda name, m: ""


_registered = MachinePlayers(
    names=lambda: [],
    description=lambda name: "",
    availability=lambda name, m: _unknown(name),
    excluded_location_ids=lambda name, m: _unknown(name),
    machine_player_get=lambda name: _unknown(name),
)


def _unknown(name):
    raise UnknownPlayer(f"unknown player {name!r}: no machine players are installed")


_prefixed = {}  # prefix -> MachinePlayers


def register(machine_players):
    global _registered
    if machine_players.prefix:
        _prefixed[machine_players.prefix] = machine_players
    else:
        _registered = machine_players


def _source(name):
    for prefix, source in _prefixed.items():
        if name.startswith(prefix):
            return source
    return _registered


def names():
    return list(_registered.names()) + [n for source in _prefixed.values() for n in source.names()]


def description(name):
    return _source(name).description(name)


def title(name):
    """The name players see ("Scout"); the registry name ("ensemble") stays the id."""
    return _source(name).title(name) or name


def blurb(name):
    return _source(name).blurb(name)


def availability(name, m):
    return _source(name).availability(name, m)


def excluded_location_ids(name, m):
    return _source(name).excluded_location_ids(name, m)


def machine_player_get(name):
    return _source(name).machine_player_get(name)


def artefact(name, m):
    """The artefact of machine player `name` that plays map `m` now ("" if it has none)."""
    return _source(name).artefact(name, m)


def offer_round(round, player):
    """Tell machine `player` of its new `round` if it fetches its rounds itself (a bot); True then,
    and the caller queues no model task for it. False for a player whose guess a model computes."""
    source = _source(player.machine_name)
    if source.offer_round is None:
        return False
    source.offer_round(round, player)
    return True
