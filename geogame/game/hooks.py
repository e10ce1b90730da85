"""What the areas built on games (duels, studies) tell the game about their games. They import the
game; the game never imports them: each registers its answers here when its app is ready.

- seated(game): the ids of players who play `game` besides its player and opponent (a duel's seats);
- may_see_round(request, round): True when the request may see the round's images without playing
  it (the browser of the study participant whose round it is).

Three traits of a game are registered as conditions on Game (a `Q`), not as functions, so that
`game_traits` reads all of them in one query (a round's draw asks for two):
- fixed_order: `game`'s planned locations never change (a study participant's game);
- is_duel: `game` is a duel's (running duels hold no places from it: location_pools);
- fixed_headings: `game` must show only the three fixed headings, never a map's pannable panorama
  (a study participant's game: every participant sees the same pictures).
"""

from django.db.models import BooleanField, ExpressionWrapper, Q, Value

from players.models import Player

from .models import Game

TRAITS = ("fixed_order", "is_duel", "fixed_headings")
_hooks = {"seated": [], "may_see_round": [], **{trait: [] for trait in TRAITS}}


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


def game_traits(game):
    """{trait: bool} for each of TRAITS, read in one query."""
    conditions = {}
    for trait in TRAITS:
        if _hooks[trait]:
            condition = Q()
            for marks in _hooks[trait]:
                condition |= marks
            conditions[trait] = ExpressionWrapper(condition, output_field=BooleanField())
        else:
            conditions[trait] = Value(False)
    return Game.objects.filter(pk=game.pk).values(**conditions).get()


def may_see_round(request, round):
    return any(may_see(request, round) for may_see in _hooks["may_see_round"])
