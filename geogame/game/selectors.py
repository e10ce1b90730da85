"""Reads for pages and the JSON API. What a client may see is decided here."""

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from geogame.maps.models import Location, Map, View

from . import hooks
from .models import Game, Guess


def city_centres(m: Map):
    """{"City, Country": (lat, lon)}: the spherical mean of the city's locations, stored on the map
    when its locations are imported or built (geogame.maps.importer.map_refresh_derived), in label
    order (a PostgreSQL jsonb object does not keep its keys' order)."""
    return {label: tuple(point) for label, point in sorted(m.city_centres.items())}


def round_view_count(round):
    return round.view_count  # maps.models.ShowsPlace


def view_count_note(m):
    """ "Some places on this map have 1 photo, others 3." when the map mixes view counts, else
    None. Said once for the map (home and play pages), not per round."""
    counts = sorted(
        set(
            Location.objects.filter(map=m, views__isnull=False)
            .annotate(n=Count("views"))
            .values_list("n", flat=True)
        )
    )
    if len(counts) < 2:
        return None
    first, rest = counts[0], " or ".join(str(n) for n in counts[1:])
    return f"Some places on this map have {first} photo{'s' if first > 1 else ''}, others {rest}."


def game_offers_panoramas(game):
    """Whether `game`'s rounds may offer a pannable 360-degree view: the map offers it
    (Map.panorama_view), and the game is neither a study participant's nor a duel's (those show
    every player the same three fixed headings). Machines never look at it."""
    if not game.map.panorama_view:
        return False
    traits = hooks.game_traits(game)
    return not traits["fixed_headings"] and not traits["is_duel"]


def round_panorama_offered(round):
    """Whether the round's player may pan round the place: the game offers panoramas and the place
    was imported from one."""
    return (
        game_offers_panoramas(round.game)
        and Location.objects.filter(id=round.location_id).exclude(panorama="").exists()
    )


def round_public(round):
    """What a player sees of a round before guessing: opaque image URLs and the
    clock. Nothing here may reveal the location (see tests/test_anticheat.py)."""
    n = round_view_count(round)
    panorama = reverse("view-panorama", args=[round.image_key]) if round_panorama_offered(round) else None
    return {
        "index": round.index,
        "number": round.index + 1,
        "views": [
            {
                "url": reverse("view-image", args=[round.image_key, i]),
                "thumb": reverse("view-thumb", args=[round.image_key, i]),
            }
            for i in range(n)
        ],
        # The pannable view's per-round rendering (geogame.game.views.view_panorama), or None.
        "panorama": panorama,
        "started_at": round.started_at.isoformat(),
        "deadline": round.deadline.isoformat() if round.deadline else None,
        "guess_url": reverse("api-guess", args=[round.game.public_id, round.index]),
    }


def guess_result(guess):
    """What a player sees after guessing: the answer, the score and the credits."""
    loc = guess.round.location
    return {
        "round": guess.round.index,
        "answer": {"lat": loc.lat, "lon": loc.lon, "city": loc.city, "country": loc.country},
        "guess": None
        if guess.lat is None
        else {"lat": guess.lat, "lon": guess.lon, "city": guess.city or None},
        "timed_out": guess.timed_out,
        "distance_km": guess.distance_km,
        "points": guess.points,
        "correct": guess.correct,
        "time_taken_s": round(guess.time_taken_s, 1),
        "attribution": {
            "source": loc.source,
            "source_id": loc.source_id,
            "license": loc.license,
            "attribution": loc.attribution,
            "captured_at": loc.captured_at,
            "views": guess.round.view_count,
        },
    }


def points_so_far(game):
    """{"played": rounds the player has finished, "total": their points, "opponent_total": with an
    opponent, its points over those rounds only, else None}, in one query.

    Only over the rounds the player has finished (guessed or timed out): the machine guesses as soon
    as a round starts, and a total with the open round in it would give that round's points away
    (they invert to a distance from the opponent's pin)."""
    mine = Q(player_id=game.player_id)
    totals = {"played": Count("id", filter=mine), "total": Sum("points", filter=mine)}
    if game.opponent_id:
        finished = Guess.objects.filter(round__game=game, player_id=game.player_id).values("round_id")
        totals["opponent_total"] = Sum("points", filter=Q(player_id=game.opponent_id, round_id__in=finished))
    out = Guess.objects.filter(round__game=game).aggregate(**totals)
    out["total"] = out["total"] or 0
    out["opponent_total"] = (out.get("opponent_total") or 0) if game.opponent_id else None
    return out


def opponent_result(round):
    """The machine's guess for a round, for showing after the player's own guess.
    {"pending": True} while the worker is still on it."""
    guess = Guess.objects.filter(round=round, player_id=round.game.opponent_id).first()
    return opponent_guess_result(round.game, guess)


def opponent_guess_result(game, guess):
    """opponent_result for the opponent's `guess` in a round of `game` (None: not guessed yet)."""
    if guess is None:
        return {"name": game.opponent.display_name, "pending": True}
    return {
        "name": game.opponent.display_name,
        "pending": False,
        "guess": None
        if guess.lat is None
        else {"lat": guess.lat, "lon": guess.lon, "city": guess.city or None},
        "timed_out": guess.timed_out,
        "distance_km": guess.distance_km,
        "points": guess.points,
        "correct": guess.correct,
    }


_NOT_LOOKED_UP = object()


def game_state(game, current_round, guess=_NOT_LOOKED_UP):
    """The JSON the play page polls: the current round and, once guessed, its result. `guess`: the
    player's guess in `current_round` when the caller has it (None: not guessed)."""
    if guess is _NOT_LOOKED_UP:
        guess = None
        if current_round is not None:
            guess = Guess.objects.filter(round=current_round, player=game.player).first()
    so_far = points_so_far(game)
    played = so_far["played"]
    state = {
        "game": str(game.public_id),
        "mode": game.mode,
        "rounds_total": game.rounds_total,
        "rounds_played": played,
        "total_points": so_far["total"],
        "time_limit_s": game.time_limit_s,
        "finished": played >= game.rounds_total,
        "summary_url": reverse("game-summary", args=[game.public_id]),
        "next_url": reverse("api-next-round", args=[game.public_id]),
        "round": round_public(current_round) if current_round is not None else None,
        "result": guess_result(guess) if guess is not None else None,
        # Lets the client count down to round.deadline on the server's clock, also after a reload.
        "server_time": timezone.now().isoformat(),
        "opponent": game.opponent.display_name if game.opponent_id else None,
    }
    if game.opponent_id:
        # Over the rounds the player has finished only, so the running total gives nothing away.
        state["opponent_total_points"] = so_far["opponent_total"]
        if guess is not None:
            # Revealed only once the player's own guess (or timeout) is stored.
            state["result"]["opponent"] = opponent_result(current_round)
    if game.mode == Game.CITY:
        state["candidates"] = list(city_centres(game.map))
    return state


def game_verdict(game, total, opponent_total, rows):
    """Against a machine, once every round is played and the machine has guessed in each:
    {"outcome": "win"|"lose"|"draw", "margin": points}; None before that or without an opponent."""
    if not game.opponent_id or opponent_total is None:
        return None
    if len(rows) < game.rounds_total or any(
        r["result"] is None or (r["opponent"] or {}).get("pending") for r in rows
    ):
        return None
    outcome = "win" if total > opponent_total else "lose" if total < opponent_total else "draw"
    return {"outcome": outcome, "margin": abs(total - opponent_total)}


def game_summary_rows(game):
    """A row per round started: the round, the player's guess, its result and the opponent's. The
    same few queries whatever the number of rounds."""
    rounds = list(game.rounds.select_related("location"))
    view_counts = dict(
        View.objects.filter(location_id__in=[r.location_id for r in rounds])
        .values("location_id")
        .annotate(n=Count("id"))
        .values_list("location_id", "n")
    )
    players = [p for p in (game.player_id, game.opponent_id) if p is not None]
    in_game = Guess.objects.filter(round__game=game, player_id__in=players)
    guesses = {(g.round_id, g.player_id): g for g in in_game}
    rows = []
    for r in rounds:
        r.game = game
        r.view_count = view_counts.get(r.location_id, 0)
        guess = guesses.get((r.id, game.player_id))
        if guess is not None:
            guess.round = r
        rows.append(
            {
                "round": r,
                "guess": guess,
                "result": guess_result(guess) if guess is not None else None,
                "opponent": opponent_guess_result(game, guesses.get((r.id, game.opponent_id)))
                if guess is not None and game.opponent_id
                else None,
            }
        )
    return rows


def machine_opponents(m):
    """[{name, title, blurb, description, unavailable}] for every machine player on map `m`:
    `title` and `blurb` are for players, `description` is the technical line."""
    from . import machines

    return [
        {
            "name": name,
            "title": machines.title(name),
            "blurb": machines.blurb(name),
            "description": machines.description(name),
            "unavailable": machines.availability(name, m),
        }
        for name in machines.names()
    ]


def machine_players_explained():
    """[{name, title, blurb, description}] for every machine player, for the page that explains
    how they play: the technical line lives there, not in the choices."""
    from . import machines

    return [
        {
            "name": name,
            "title": machines.title(name),
            "blurb": machines.blurb(name),
            "description": machines.description(name),
        }
        for name in machines.names()
    ]


def opponents_for_home(maps):
    """Each machine player that can play at least one map, once (the server checks the chosen
    map again). Players that can play none are not offered at all."""
    merged = {}
    for item in maps:
        for o in item["opponents"]:
            if not o["unavailable"]:
                merged.setdefault(o["name"], dict(o))
    return list(merged.values())


def maps_for_home(rounds=None):
    """Each map with its counts. `places`: how many locations a human-only game, and a game
    against the machines (any of those that can play it: places none of them learned from), can
    use now (geogame.game.location_pools); `rounds`: what a game needs, to say when a map has too few."""
    from django.conf import settings

    from .location_pools import map_counts

    rounds = rounds or settings.GEOGAME_ROUNDS_PER_GAME
    maps = []
    for m in Map.objects.order_by("name"):
        n = Location.objects.filter(map=m, views__isnull=False).distinct().count()
        opponents = machine_opponents(m)
        maps.append(
            {
                "map": m,
                "locations": n,
                "cities": len(city_centres(m)),
                "opponents": opponents,
                "view_note": view_count_note(m),
                "places": map_counts(m, [o["name"] for o in opponents if not o["unavailable"]]),
                "rounds": rounds,
            }
        )
    return maps
