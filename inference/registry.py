"""Machine player names -> classes, imported on first use so the web process
can list players without loading torch."""

import functools
import hashlib

from django.utils.module_loading import import_string

from geogame.game.machines import UnknownPlayer  # the game's: it catches what this raises

PLAYERS = {
    "random": "inference.players.RandomPlayer",
    "centroid": "inference.players.CentroidPlayer",
    "ensemble": "inference.players.EnsemblePlayer",
    "transfer": "inference.players.TransferPlayer",
    "hierarchical": "inference.players.HierarchicalPlayer",
    "regression": "inference.players.RegressionPlayer",
    "clip": "inference.players.ClipPlayer",
    "retrieval": "inference.players.RetrievalPlayer",
}
LEARNED = ("ensemble", "transfer", "hierarchical", "regression")
# Players (models) a process keeps loaded, least recently used evicted first; inference.services
# keeps no more batchers than this, so an evicted player's model is freed.
PLAYERS_LOADED_MAX = 32


def player_class(name):
    if name not in PLAYERS:
        raise UnknownPlayer(f"unknown player {name!r}; known players: {', '.join(PLAYERS)}")
    return import_string(PLAYERS[name])


def availability(name, m):
    """None if `name` can play on map `m`, else the reason it cannot."""
    return player_class(name).unavailable_reason(m)


def artefact(name, m):
    """Which artefact of `name` plays map `m` now, as ratings tell artefacts apart: "v3" for a learned
    player's newest ready version, a short hash of the version key for players keyed otherwise (the
    retrieval player's training split, the CLIP weights), "" for players with nothing to train."""
    cls = player_class(name)
    key = cls.version_key(m)
    if key is None:
        return ""
    if name in LEARNED:
        return f"v{key}"
    return "k" + hashlib.sha256(repr(key).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=PLAYERS_LOADED_MAX)
def _load(name, map_id, version_key):
    from geogame.maps.models import Map

    return player_class(name)(Map.objects.get(id=map_id))


def excluded_location_ids(name, m):
    """Ids of map `m`'s locations a game against `name` never draws: those it trained or
    early-stopped on (see MachinePlayer.excluded_location_ids)."""
    return player_class(name).excluded_location_ids(m)


def load_player(name, m):
    """The player for map `m`, loaded once per process and per artefact version."""
    reason, version_key = player_class(name).reason_and_version_key(m)
    if reason:
        from .players import PlayerUnavailable

        raise PlayerUnavailable(reason)
    return _load(name, m.id, version_key)
