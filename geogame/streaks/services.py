"""Country streaks: starting one, its rounds, its answers, and a machine player's streak.

Places come from the game's fair-contest rules (geogame.game.location_pools): a person's streak
from every playable place of the map, a machine's only from the held-out places it never learned
from; never a reserved one. Only places with a country (Location.country_code) are drawn."""

import secrets

from django.db import transaction
from django.utils import timezone

from geogame.common.errors import Refused
from geogame.game import location_pools
from geogame.game import rules as game_rules
from geogame.game.models import Game
from geogame.maps import countries
from geogame.maps.models import Location

from . import rules
from .models import Streak, StreakRound


class StreakError(Refused):
    pass


def pool_ids(m, machine_names=(), now=None):
    ids = location_pools.pool_ids(m, Game.COORDINATES, machine_names, now)
    coded = Location.objects.filter(id__in=ids).exclude(country_code="").values_list("id", flat=True)
    return set(coded)


def streak_create(*, player, m, machine_name="", seed=None, round_time_s=rules.ROUND_TIME_S):
    ids = pool_ids(m, [machine_name] if machine_name else ())
    if len(ids) < rules.MIN_PLACES:
        raise StreakError(rules.ERR_TOO_FEW.format(have=len(ids), need=rules.MIN_PLACES), status=409)
    n = rules.max_length(len(ids))
    seed = secrets.randbits(62) if seed is None else seed
    return Streak.objects.create(
        player=player,
        map=m,
        is_machine=bool(machine_name),
        location_order=game_rules.choose_locations(ids, n, seed),
        max_length=n,
        round_time_s=round_time_s,
    )


def _end(streak, reason, now):
    streak.status, streak.end_reason, streak.ended_at = Streak.ENDED, reason, now
    streak.save(update_fields=["status", "end_reason", "ended_at", "length"])


def _expire(streak, rnd, now):
    """A round past its deadline with no answer: a timeout, which ends the streak."""
    if rnd.correct is None and rnd.deadline is not None and now > rnd.deadline:
        rnd.correct, rnd.answered_at = False, now
        rnd.save(update_fields=["correct", "answered_at"])
        _end(streak, Streak.TIMEOUT, now)
        return True
    return False


def round_current(*, streak, now=None):
    """The round the player answers now, started here when the last one is answered; None when the
    streak is over (a timed-out round ends it here)."""
    now = now or timezone.now()
    with transaction.atomic():
        streak = Streak.objects.select_for_update().get(id=streak.id)
        if streak.status == Streak.ENDED:
            return None
        last = streak.rounds.order_by("-index").first()
        if last is not None and last.correct is None:
            return None if _expire(streak, last, now) else last
        if streak.length >= streak.max_length:
            _end(streak, Streak.COMPLETE, now)
            return None
        used = set(streak.rounds.values_list("location_id", flat=True))
        machines = [streak.player.machine_name] if streak.is_machine else []
        reserved = location_pools.reserved_location_ids(streak.map, now)
        free = [i for i in streak.location_order if i not in used and i not in reserved]
        if machines:  # a machine's places are checked again: it may have been retrained since
            free = [i for i in free if i not in location_pools.machine_excluded_ids(streak.map, machines)]
        if not free:
            _end(streak, Streak.COMPLETE, now)
            return None
        return StreakRound.objects.create(
            streak=streak,
            index=last.index + 1 if last else 0,
            location_id=free[0],
            image_key=secrets.token_urlsafe(32),
            started_at=now,
            deadline=game_rules.deadline_for(now, streak.round_time_s),
        )


def answer_code(*, country=None, lat=None, lon=None):
    """The country a request names: its `country` code, or the country at its point."""
    if country is not None and (lat is not None or lon is not None):
        raise StreakError(rules.ERR_BOTH)
    try:
        if country is not None:
            return rules.parse_code(country, countries.country_names())
        if lat is None and lon is None:
            raise ValueError(rules.ERR_NEED_ANSWER)
        lat, lon = rules.parse_point(lat, lon)
    except ValueError as exc:
        raise StreakError(str(exc)) from None
    code = countries.country_at(lat, lon, tolerance_km=0)
    if code is None:
        raise StreakError(rules.ERR_NO_COUNTRY_THERE)
    return code


def guess_submit(*, streak, index, code, now=None):
    """Answer round `index` with country `code` (checked: answer_code). Returns the round; a wrong
    answer or a late one ends the streak; 409 when the round is answered or the streak over."""
    now = now or timezone.now()
    with transaction.atomic():
        streak = Streak.objects.select_for_update().get(id=streak.id)
        rnd = streak.rounds.filter(index=index).select_related("location").first()
        if rnd is None:
            raise StreakError(rules.ERR_NOT_CURRENT, status=404)
        if rnd.correct is not None:
            raise StreakError(rules.ERR_ANSWERED, status=409)
        if streak.status == Streak.ENDED:
            raise StreakError(rules.ERR_ENDED, status=409)
        expired = _expire(streak, rnd, now)  # committed: the timeout stands, then the refusal
        if not expired:
            _answer(streak, rnd, code, now)
    if expired:
        raise StreakError(rules.ERR_ENDED + ": the round's time ran out", status=409)
    return rnd


def _answer(streak, rnd, code, now):
    rnd.guess_code, rnd.correct, rnd.answered_at = code, code == rnd.location.country_code, now
    rnd.save(update_fields=["guess_code", "correct", "answered_at"])
    if rnd.correct:
        streak.length += 1
        if streak.length >= streak.max_length:
            _end(streak, Streak.COMPLETE, now)
        else:
            streak.save(update_fields=["length"])
    else:
        _end(streak, Streak.WRONG, now)


def machine_streak_play(*, player, m, predict, now=None):
    """Play one streak for machine `player` on `m`: `predict(location)` is its (lat, lon) pin for a
    place, and the pin's country its answer (none: a wrong answer). Returns the ended Streak."""
    streak = streak_create(player=player, m=m, machine_name=player.machine_name, round_time_s=None)
    while True:
        rnd = round_current(streak=streak, now=now)
        if rnd is None:
            break
        lat, lon = predict(rnd.location)
        code = countries.country_at(lat, lon, tolerance_km=0) or ""
        guess_submit(streak=streak, index=rnd.index, code=code, now=now)
    streak.refresh_from_db()
    return streak


def streak_has_player(*, streak_round, player):
    return player is not None and streak_round.streak.player_id == player.id
