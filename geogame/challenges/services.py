"""Challenge and daily writes: make a challenge from a game, join one, draw the day's daily (before
any other draw on its map), start a daily attempt, and the machine players' daily attempts."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from geogame.common.errors import Refused
from geogame.game import location_pools, machines
from geogame.game import services as game_services
from geogame.game.models import Game
from geogame.maps.models import Location

from . import rules, selectors
from .models import Challenge, ChallengeEntry, DailyAttempt, DailyChallenge

log = logging.getLogger(__name__)

ERR_NO_CHALLENGE = "no such challenge: the link is wrong or the challenge was deleted"
ERR_NOT_FINISHED = "finish the game first: a challenge is made from a finished game"
ERR_DAILY_GAME = "this game is a daily challenge: share the daily's page instead"
ERR_PLACE_HELD = (
    "one of this challenge's places is held right now by today's daily challenge, a running duel "
    "or a study; try again later"
)
ERR_ALREADY_PLAYED_DAILY = "you have already played today's daily challenge on this map (one attempt each)"
ERR_DAILY_CLOSED = "that daily challenge is over; today's is open"
ERR_DAILY_TOO_FEW = (
    "no daily challenge on this map: it has {have} free places that no machine player learned from, "
    "and a daily ({rounds} places, held from every other game that day) needs a map with at least {need}"
)
ERR_DAILY_FIRST = "the leaderboard opens after your attempt: play today's daily challenge first"
ERR_DAILY_FINISH = "the leaderboard opens after your attempt: finish it first"


class ChallengeError(Refused):
    """A challenge or daily request refused."""


def challenge_from_game(*, game):
    """The challenge made from `game` (a finished game of the player's own): the one it belongs
    to if it was played from a challenge, the one made from it before, or a new one."""
    entry = ChallengeEntry.objects.filter(game=game).select_related("challenge").first()
    if entry is not None:
        return entry.challenge, False
    if DailyAttempt.objects.filter(game=game).exists():
        raise ChallengeError(ERR_DAILY_GAME, status=409)
    existing = Challenge.objects.filter(source_game=game).first()
    if existing is not None:
        return existing, False
    if not selectors.game_finished(game):
        raise ChallengeError(ERR_NOT_FINISHED, status=409)
    order = list(game.rounds.order_by("index").values_list("location_id", flat=True))
    try:
        with transaction.atomic():
            challenge = Challenge.objects.create(
                map=game.map,
                mode=game.mode,
                time_limit_s=game.time_limit_s,
                location_order=order,
                source_game=game,
                created_by=game.player,
            )
            ChallengeEntry.objects.create(challenge=challenge, game=game, player=game.player)
    except IntegrityError:  # the same game's button pressed twice at once
        return Challenge.objects.get(source_game=game), False
    return challenge, True


def challenge_join(*, challenge, player, now=None):
    """`player`'s game in `challenge`: the one they have, or a new one over its places, in order,
    with its mode and timer. 409 while one of the places is held (a daily, a duel, a study)."""
    entry = selectors.entry_of(challenge, player)
    if entry is not None:
        return entry.game
    reserved = location_pools.reserved_location_ids(challenge.map, now or timezone.now())
    if reserved & set(challenge.location_order):
        raise ChallengeError(ERR_PLACE_HELD, status=409)
    try:
        with transaction.atomic():
            game = game_services.game_create_planned(
                player=player,
                map=challenge.map,
                location_ids=challenge.location_order,
                mode=challenge.mode,
                time_limit_s=challenge.time_limit_s,
            )
            ChallengeEntry.objects.create(challenge=challenge, game=game, player=player)
    except IntegrityError:  # two requests of one player at once: keep the first
        return selectors.entry_of(challenge, player).game
    return game


def daily_machine_names(m):
    """The machine players that can play map `m` now."""
    names = []
    for name in machines.names():
        try:
            if machines.availability(name, m) is None:
                names.append(name)
        except machines.UnknownPlayer:
            continue
    return names


def daily_pool_ids(m, now):
    """The places a daily on `m` may use: held out from training, learned from by no machine
    player that plays the map, and not held by a duel or a study now."""
    ids = set(
        location_pools.playable(m, Game.COORDINATES)
        .filter(split__in=Location.MACHINE_SPLITS)
        .values_list("id", flat=True)
    )
    if not rules.has_daily(len(ids)):
        return ids  # too few before anything is taken away: spare the machine players' records
    ids -= location_pools.machine_excluded_ids(m, daily_machine_names(m))
    return ids - location_pools.reserved_location_ids(m, now, skip=daily_places_held)


def daily_draw(*, m, now=None):
    """The daily on `m` for the UTC day at `now`; None when the map is too small for one.

    Every draw of places on `m` asks for it first (daily_places_held, a reservation source), so the
    day's daily exists before any game, duel, challenge or study of that day draws or shows a place.
    1. The day's daily if it was drawn: one query.
    2. Else the pool (daily_pool_ids); under rules.DAILY_MIN_POOL places, no daily (asked again at
       the next draw).
    3. Else draw its places by map and date and store them. Two processes drawing at once draw the
       same places, and the unique (map, day) keeps one: the other gets that one.
    """
    now = now or timezone.now()
    day = selectors.utc_day(now)
    daily = DailyChallenge.objects.filter(map=m, day=day).first()
    if daily is not None:
        return daily
    pool = daily_pool_ids(m, now)
    if not rules.has_daily(len(pool)):
        return None
    order = rules.daily_locations(pool, m.slug, day)
    try:
        with transaction.atomic():
            return DailyChallenge.objects.create(map=m, day=day, location_order=order)
    except IntegrityError:  # drawn by another request just now
        return DailyChallenge.objects.get(map=m, day=day)


def daily_places_held(m, now, game):
    """A reservation source (location_pools): the day's daily places on `m`, drawn now if this is
    the day's first draw there, are served to no game but that daily's own attempts."""
    if selectors.is_daily_game(game):
        return set()
    daily = daily_draw(m=m, now=now)
    return set(daily.location_order) if daily is not None else set()


def daily_get_or_create(*, m, day=None, now=None):
    """Today's (or `day`'s) daily on map `m` for a player to open (daily_draw), with the map's
    machine players' attempts started. 409 naming the rule where the map is too small for one."""
    now = now or timezone.now()
    day = day or selectors.utc_day(now)
    daily = DailyChallenge.objects.filter(map=m, day=day).first()
    if daily is None:
        if day != selectors.utc_day(now):
            raise ChallengeError(ERR_DAILY_CLOSED, status=404)
        daily = daily_draw(m=m, now=now)
        if daily is None:
            raise ChallengeError(daily_too_small(m, now), status=409)
    if day == selectors.utc_day(now):
        daily_machine_attempts_start(daily)
    return daily


def daily_too_small(m, now=None):
    """Why map `m` has no daily: its pool's size against the minimum."""
    have = len(daily_pool_ids(m, now or timezone.now()))
    return ERR_DAILY_TOO_FEW.format(have=have, need=rules.DAILY_MIN_POOL, rounds=rules.DAILY_ROUNDS)


def daily_machine_attempts_start(daily):
    """Each machine player that can play the daily's map plays it (once: the unique owner keeps
    one attempt each when two requests start them at once)."""
    started = set(DailyAttempt.objects.filter(daily=daily, is_machine=True).values_list("owner", flat=True))
    for name in daily_machine_names(daily.map):
        owner = f"machine:{name}"
        if owner in started:
            continue
        player = machines.machine_player_get(name)
        try:
            with transaction.atomic():
                game = game_services.game_create_planned(
                    player=player, map=daily.map, location_ids=daily.location_order, mode=daily.mode
                )
                DailyAttempt.objects.create(
                    daily=daily, game=game, player=player, owner=owner, is_machine=True
                )
        except IntegrityError:  # another request started this one
            continue
        game_services.machine_game_play(game=game)


def attempt_owner(request, create=True):
    """Who a daily attempt counts for: the account, else the browser session (made now if the
    browser has none yet and `create`; else None)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.id}"
    if request.session.session_key is None:
        if not create:
            return None
        request.session.save()
    return f"session:{request.session.session_key}"


def daily_attempt_start(*, daily, player, owner, now=None):
    """The one attempt of `owner` (and `player`) at `daily`, which must be today's. A second one,
    also two at once, is refused with 409; the first stays as it was."""
    if daily.day != selectors.utc_day(now):
        raise ChallengeError(ERR_DAILY_CLOSED, status=409)
    if selectors.daily_attempt_of(daily, player, owner) is not None:
        raise ChallengeError(ERR_ALREADY_PLAYED_DAILY, status=409)
    try:
        with transaction.atomic():
            game = game_services.game_create_planned(
                player=player, map=daily.map, location_ids=daily.location_order, mode=daily.mode
            )
            return DailyAttempt.objects.create(daily=daily, game=game, player=player, owner=owner)
    except IntegrityError:
        raise ChallengeError(ERR_ALREADY_PLAYED_DAILY, status=409) from None


def daily_leaderboard_check(*, daily, player, owner, now=None):
    """None when the viewer may see `daily`'s leaderboard (a past day's is open to all; today's
    after the viewer's finished attempt), else the ChallengeError saying why not."""
    if daily.day < selectors.utc_day(now):
        return None
    attempt = selectors.daily_attempt_of(daily, player, owner)
    if attempt is None:
        return ChallengeError(ERR_DAILY_FIRST, status=403)
    if not selectors.game_finished(attempt.game):
        return ChallengeError(ERR_DAILY_FINISH, status=403)
    return None


def entries_move(sender, source, target, **kwargs):
    """players_merged: `source`'s challenge entries and daily attempts follow its games into
    `target`'s account; where the account has its own already, the account's stays and the
    browser's is dropped from the ranking (its game stays in the history)."""
    for entry in ChallengeEntry.objects.filter(player=source):
        if ChallengeEntry.objects.filter(challenge_id=entry.challenge_id, player=target).exists():
            entry.delete()
        else:
            ChallengeEntry.objects.filter(id=entry.id).update(player=target)
    owner = f"user:{target.user_id}" if target.user_id else f"player:{target.id}"
    for attempt in DailyAttempt.objects.filter(player=source, is_machine=False):
        if DailyAttempt.objects.filter(daily_id=attempt.daily_id).filter(player=target).exists() or (
            DailyAttempt.objects.filter(daily_id=attempt.daily_id, owner=owner).exists()
        ):
            attempt.delete()
        else:
            DailyAttempt.objects.filter(id=attempt.id).update(player=target, owner=owner)
