"""Which locations a game may draw: the fair-contest rules, in one place.

- A human-only game may use every playable location of its map.
- A game or duel with a machine player draws only from the map's held-out splits (test and play),
  less every location that player trained or early-stopped on (its artefact's own record).
- No game is served a reserved location: one shown in a running duel, one of an open study's
  practice and test sets, or one of today's daily challenge (geogame.challenges, which draws the
  day's daily the first time anything asks for a map's reservations that day, so before any game,
  duel, challenge or study draws places there). Another feature that holds locations adds a source
  with `reservation_source`.
- Duels do not hold places from each other (only from solo games and studies): each is a live
  contest in which nobody sees an answer before guessing, and a map's held-out places would
  otherwise run out after a few duels at once.
"""

from django.utils import timezone

from geogame.maps.models import Location

from .models import Game

_SOURCES = []
_NOT_FOR_DUELS = set()  # sources that hold no places from a duel (running duels: see the docstring)
_NOT_FOR_STUDIES = set()  # sources a new study's sets may share places with (as before dailies)


def reservation_source(fn=None, *, for_duels=True, for_studies=True):
    """Register `fn(map, now, game)` -> iterable of location ids that map `map` holds back from
    every game but `game` (None: from every game) at `now`; `for_duels=False`: not from duels;
    `for_studies=False`: not from a new study's practice and test sets.
    The areas that hold places register theirs when they start (DuelsConfig, StudiesConfig,
    ChallengesConfig.ready). Usable as a decorator: `@reservation_source def daily(m, now, game): ...`."""
    if fn is None:
        return lambda fn: reservation_source(fn, for_duels=for_duels, for_studies=for_studies)
    if fn not in _SOURCES:
        _SOURCES.append(fn)
    if not for_duels:
        _NOT_FOR_DUELS.add(fn)
    if not for_studies:
        _NOT_FOR_STUDIES.add(fn)
    return fn


def reserved_location_ids(m, now=None, game=None, for_duel=False, for_study=False, skip=None):
    """Ids of map `m`'s locations that no game but `game` may be served at `now`; `for_duel`: for
    a duel, which running duels do not hold places from; `for_study`: for a new study's sets;
    `skip`: a source left out (the daily's own draw asks for everyone else's reservations)."""
    now = now or timezone.now()
    out = set()
    for source in _SOURCES:
        if source is skip or (for_duel and source in _NOT_FOR_DUELS):
            continue
        if for_study and source in _NOT_FOR_STUDIES:
            continue
        out.update(source(m, now, game))
    return out


def playable(m, mode=Game.COORDINATES):
    """Locations of `m` a game in `mode` can show: with views, and with a city in city mode."""
    qs = Location.objects.filter(map=m, views__isnull=False).distinct()
    if mode == Game.CITY:
        qs = qs.exclude(city="")
    return qs


def machine_excluded_ids(m, machine_names):
    """Everything any of `machine_names` may have learned from on `m`."""
    from .machines import excluded_location_ids

    out = set()
    for name in machine_names:
        out.update(excluded_location_ids(name, m))
    return out


def pool_ids(m, mode=Game.COORDINATES, machine_names=(), now=None, game=None, for_duel=False):
    """Ids a game on `m` (a duel's, with `for_duel`) may draw now: with `machine_names` (the machine
    players in it), only held-out locations none of them learned from; never a reserved one."""
    qs = playable(m, mode)
    if machine_names:
        qs = qs.filter(split__in=Location.MACHINE_SPLITS)
    ids = set(qs.values_list("id", flat=True))
    if machine_names:
        ids -= machine_excluded_ids(m, machine_names)
    return ids - reserved_location_ids(m, now, game, for_duel)


def map_counts(m, machine_names, now=None):
    """{"human": n, "machine": n} for the home page and the duel lobby: how many locations a
    human-only game, and a game against any of `machine_names` (the held-out splits less all they
    learned from), can use now."""
    now = now or timezone.now()
    reserved = reserved_location_ids(m, now)
    ids = set(playable(m).values_list("id", flat=True)) - reserved
    held_out = set(playable(m).filter(split__in=Location.MACHINE_SPLITS).values_list("id", flat=True))
    machine = held_out - reserved - machine_excluded_ids(m, machine_names)
    return {"human": len(ids), "machine": len(machine)}
