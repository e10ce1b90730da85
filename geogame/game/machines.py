"""The machine players, as the game sees them. The inference app registers them here when it starts
(InferenceConfig.ready), so the game, duels and studies reach a machine player without importing
inference: inference imports the game, never the reverse."""

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


_registered = MachinePlayers(
    names=lambda: [],
    description=lambda name: "",
    availability=lambda name, m: _unknown(name),
    excluded_location_ids=lambda name, m: _unknown(name),
    machine_player_get=lambda name: _unknown(name),
)


def _unknown(name):
    raise UnknownPlayer(f"unknown player {name!r}: no machine players are installed")


def register(machine_players):
    global _registered
    _registered = machine_players


def names():
    return list(_registered.names())


def description(name):
    return _registered.description(name)


def title(name):
    """The name players see ("Scout"); the registry name ("ensemble") stays the id."""
    return _registered.title(name) or name


def blurb(name):
    return _registered.blurb(name)


def availability(name, m):
    return _registered.availability(name, m)


def excluded_location_ids(name, m):
    return _registered.excluded_location_ids(name, m)


def machine_player_get(name):
    return _registered.machine_player_get(name)

