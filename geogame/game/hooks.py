"""What the areas built on games (duels, studies) tell the game about their games. They import the
game; the game never imports them: each registers its answers here when its app is ready.

- seated(game): the ids of players who play `game` besides its player and opponent (a duel's seats);
- fixed_order(game): True when `game`'s planned locations never change (a study participant's game);
- is_duel(game): True when `game` is a duel's (running duels hold no places from it: location_pools);
- may_see_round(request, round): True when the request may see the round's images without playing
  it (the browser of the study participant whose round it is);
- fixed_headings(game): True when `game` must show only the three fixed headings, never a map's
  pannable panorama (a study participant's game: every participant sees the same pictures).
"""

from django.db.models import Q

from players.models import Player

_hooks = {"seated": [], "fixed_order": [], "is_duel": [], "may_see_round": [], "fixed_headings": []}


def register(**hooks):
    for name, fn in hooks.items():
        if fn not in _hooks[name]:
            _hooks[name].append(fn)


def seated_players(game):
    """The Players seated in `game` besides its player and opponent."""
    if not _hooks["seated"]:
        return Player.objects.none()
    query = Q()
    for seated in _hooks["seated"]:
        query |= Q(id__in=seated(game))
    return Player.objects.filter(query)


def has_fixed_order(game):
    return any(fixed_order(game) for fixed_order in _hooks["fixed_order"])


def is_duel(game):
    return any(is_duel(game) for is_duel in _hooks["is_duel"])


def may_see_round(request, round):
    return any(may_see(request, round) for may_see in _hooks["may_see_round"])


def has_fixed_headings(game):
    return any(fixed_headings(game) for fixed_headings in _hooks["fixed_headings"])
