"""Reads for duels: what a seat may see. Nothing here may place the current round's
location, or the other side's guess, before the round's result."""

import time

from django.db.models import Q
from django.urls import reverse

from geogame.game.models import Guess, Round
from geogame.game.selectors import round_public
from players.sessions import SESSION_KEY

from . import rules as duel_rules
from .models import Duel, DuelSeat


def seat_for_player(duel, player_id):
    """The player's DuelSeat in `duel`, or None."""
    if player_id is None:
        return None
    return DuelSeat.objects.filter(duel=duel, player_id=player_id).select_related("player").first()


def seat_for_session(duel_public_id, session):
    """(duel, seat) for the session's player, or (None, None) if they have no seat in that duel.
    `session` is a Django session (request.session, or a consumer's scope["session"])."""
    duel = Duel.objects.filter(public_id=duel_public_id).select_related("game").first()
    if duel is None:
        return None, None
    seat = seat_for_player(duel, session.get(SESSION_KEY))
    return (duel, seat) if seat is not None else (None, None)


def duel_round_public(rnd):
    """round_public without the classic game's guess URL: duel guesses go over the socket."""
    public = round_public(rnd)
    public.pop("guess_url", None)
    return public


def seats_public(duel):
    return [
        {
            "seat": s.seat,
            "side": s.seat in DuelSeat.SIDES,
            "name": s.player.display_name if s.player_id else None,
            "kind": s.player.kind if s.player_id else "human",
            "machine": s.player.machine_name if s.player_id else "",
        }
        for s in duel.seats.select_related("player").order_by("seat")
    ]


def seat_guess(seat, guess):
    """One seat's guess for a finished round (the location is revealed by now)."""
    return {
        "seat": seat,
        "lat": guess.lat,
        "lon": guess.lon,
        "distance_km": guess.distance_km,
        "points": guess.points,
        "timed_out": guess.timed_out,
    }


def round_result(rnd, guesses_by_seat, outcome: duel_rules.RoundOutcome):
    """The round_result payload, frozen into Duel.results when the round ends."""
    loc = rnd.location
    return {
        "round": rnd.index,
        "number": outcome.number,
        "multiplier": outcome.multiplier,
        "answer": {"lat": loc.lat, "lon": loc.lon, "city": loc.city, "country": loc.country},
        "attribution": {
            "source": loc.source,
            "source_id": loc.source_id,
            "license": loc.license,
            "attribution": loc.attribution,
            "captured_at": loc.captured_at,
        },
        "guesses": [seat_guess(seat, g) for seat, g in sorted(guesses_by_seat.items())],
        "points": list(outcome.points),
        "damage": list(outcome.damage),
        "health": list(outcome.health),
    }


def current_round(duel):
    if duel.round_index is None:
        return None
    return Round.objects.filter(game_id=duel.game_id, index=duel.round_index).select_related("game").first()


def duel_state(duel, seat):
    """The whole duel as `seat` sees it: the `state` message's fields."""
    rnd = current_round(duel)
    your_guess = None
    if rnd is not None and duel.round_open and seat.player_id:
        g = Guess.objects.filter(round=rnd, player_id=seat.player_id).first()
        if g is not None and not g.timed_out:
            your_guess = {"lat": g.lat, "lon": g.lon}
    invite = None
    if duel.status == Duel.WAITING and seat.seat == 0:
        token = duel.seats.filter(player__isnull=True).values_list("invite_token", flat=True).first()
        invite = reverse("duel-join", args=[token]) if token else None
    return {
        "duel": str(duel.public_id),
        "status": duel.status,
        "you": seat.seat,
        "max_rounds": duel.game.rounds_total,
        "start_health": duel_rules.START_HEALTH,
        "seats": seats_public(duel),
        "health": duel.health,
        "round": duel_round_public(rnd) if rnd is not None else None,
        "multiplier": duel_rules.multiplier(rnd.index + 1) if rnd is not None else None,
        "round_open": duel.round_open,
        "guessed": duel.guessed,
        "your_guess": your_guess,
        "results": duel.results,
        "next_round_at": duel.next_round_at.isoformat() if duel.next_round_at else None,
        "winner": duel.winner_seat,
        "reason": duel.end_reason or None,
        "invite_url": invite,
        "server_time": time.time(),
    }


# -- What the game asks of duels (registered in DuelsConfig.ready) --------------------------------


def running_duel_location_ids(m, now, game):
    """Locations shown in a duel still being played (a duel's later locations are not yet in it:
    each round checks its own when it starts). A reservation source of geogame.game.location_pools
    that holds no places from other duels."""
    rounds = Round.objects.filter(game__map=m, game__duel__status__in=(Duel.WAITING, Duel.ACTIVE))
    if game is not None:
        rounds = rounds.exclude(game=game)
    return rounds.values_list("location_id", flat=True)


def seated_player_ids(game):
    """The players seated in the duel whose game is `game` (geogame.game.hooks)."""
    return DuelSeat.objects.filter(duel__game=game, player__isnull=False).values("player_id")


# A duel's game (geogame.game.hooks: is_duel).
DUEL_GAMES = Q(duel__isnull=False)
