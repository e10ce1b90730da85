"""Duel services: every write to a duel goes through here.

A duel moves in small steps. Each step is one transaction that holds the duel's row
(select_for_update; SQLite's IMMEDIATE transactions hold the whole database) and ends
with events numbered by the duel's new version, sent only after commit
(geogame.duels.events), and a timer whenever a new moment falls due:

  duel_create, duel_join   a duel with both sides seated becomes active; round 1 is due
                           GEOGAME_DUEL_START_S later                       -> seat_joined
  duel_advance             (a timer, the workers' sweep, a client reconnecting) starts a round that is due,
                           or ends one whose clock ran out   -> round_started / round_result
  duel_guess               a human's guess                  -> opponent_guessed / round_result
  duel_machine_announce    a machine's stored guess, once it has "thought"  -> the same

Guesses are stored only by geogame.game.services.guess_submit, whose deadline check also
drops a machine's late answer (it scores 0, the duel goes on).
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from geogame.common import background
from geogame.common.errors import Refused
from geogame.game import location_pools, machines, rules, services
from geogame.game.models import Game, Guess, Round
from geogame.ranked import services as ranked_services

from . import events as duel_events
from . import rules as duel_rules
from .models import Duel, DuelSeat
from .selectors import current_round, duel_round_public, round_result, seat_for_player

log = logging.getLogger(__name__)

HUMAN = "human"  # the opponent choice for "invite someone"
TICK_TASK = "geogame.duel_tick"
MACHINE_GUESS_TASK = "geogame.duel_machine_guess"
ANNOUNCE_TASK = "geogame.duel_machine_announce"
# A timer fires this long after the moment it waits for, so that moment has surely passed.
TIMER_SLACK = timedelta(milliseconds=50)
STATE_FIELDS = [
    "status",
    "version",
    "health",
    "round_index",
    "round_open",
    "guessed",
    "next_round_at",
    "results",
    "winner_seat",
    "end_reason",
    "finished_at",
]

ERR_NOT_FOUND = "no such duel"
ERR_NOT_SEATED = "you have no seat in this duel"
ERR_OTHER_DUEL = "this connection plays duel {duel}; the guess names another duel"
ERR_NOT_A_SIDE = "your seat watches this duel; it does not guess"
ERR_NOT_STARTED = "the duel has not started yet"
ERR_OVER = "the duel is over"
ERR_ROUND_NOT_STARTED = "round {round} has not started"
ERR_ROUND_OVER = "round {round} is over"
ERR_NO_LOCATIONS = "the map has {have} places free to play right now; a duel needs {need}"
ERR_NO_UNSEEN = (
    "this map has {have} places the {name} player has never seen; a duel against it needs {need}. "
    "Duel a person, or choose a map with more places."
)
NO_LOCATIONS = "no_locations"  # a duel's end_reason when no free place is left for its next round
ERR_BAD_INVITE = "this invite link is not valid, or someone has already used it"
ERR_OWN_INVITE = "this is your own duel; send the invite link to someone else"
ERR_THIRD_SEAT = "a machine plays along only in a duel between two humans"
ERR_OPPONENT = "choose a machine player or 'human'"
ERR_RANKED_ACCOUNT = "log in to play a ranked duel: ratings are kept for accounts"
ERR_RANKED_THIRD = "a ranked duel has two sides only: no machine guesses along"


class DuelError(Refused):
    """A request the duel refuses."""


# -- Creating and joining ------------------------------------------------------------------------


def _machine(name, m):
    from geogame.game.machines import UnknownPlayer, availability, machine_player_get

    try:
        reason = availability(name, m)
    except UnknownPlayer as exc:
        raise DuelError(str(exc)) from None
    if reason:
        raise DuelError(services.ERR_OPPONENT_UNAVAILABLE.format(name=name, reason=reason))
    return machine_player_get(name)


def duel_create(*, player, map, opponent, third_seat="", ranked=False, now=None):
    """A duel of `player` against machine player `opponent`, or against a human who joins
    by invite (`opponent="human"`), optionally with machine `third_seat` guessing along.
    A `ranked` duel is between two sides only, both people with accounts or a person and a machine,
    and is rated once finished (_duel_rate).

    1. Check the opponents and that the map has enough places free for them (location_pools:
       against a machine, only places it never learned from).
    2. Create the duel's game (map, location order, round clock, max rounds) and seats.
    3. Against a machine the duel is active at once: round 1 is due GEOGAME_DUEL_START_S later.
    """
    now = now or timezone.now()
    if not opponent:
        raise DuelError(ERR_OPPONENT)
    if ranked and third_seat:
        raise DuelError(ERR_RANKED_THIRD)
    if ranked and player.user_id is None:
        raise DuelError(ERR_RANKED_ACCOUNT, status=403)
    if opponent == HUMAN:
        side = None
        watcher = _machine(third_seat, map) if third_seat else None
    else:
        if third_seat:
            raise DuelError(ERR_THIRD_SEAT)
        side, watcher = _machine(opponent, map), None
    machine = (side or watcher).machine_name if (side or watcher) else ""
    ids = location_pools.pool_ids(map, Game.COORDINATES, [machine] if machine else (), now, for_duel=True)
    need = duel_min_rounds()
    if len(ids) < need:
        if machine:
            raise DuelError(ERR_NO_UNSEEN.format(have=len(ids), name=machine, need=need))
        raise DuelError(ERR_NO_LOCATIONS.format(have=len(ids), need=need))
    rounds_total = min(settings.GEOGAME_DUEL_MAX_ROUNDS, len(ids))
    seed = secrets.randbits(62)
    with transaction.atomic():
        game = Game.objects.create(
            player=player,
            opponent=side or watcher,
            map=map,
            mode=Game.COORDINATES,
            rounds_total=rounds_total,
            time_limit_s=settings.GEOGAME_DUEL_ROUND_S,
            seed=seed,
            location_order=rules.choose_locations(ids, rounds_total, seed),
        )
        duel = Duel.objects.create(game=game, health=[duel_rules.START_HEALTH] * 2, ranked=ranked)
        DuelSeat.objects.create(duel=duel, seat=0, player=player)
        if side is not None:
            DuelSeat.objects.create(duel=duel, seat=1, player=side, artefact=machines.artefact(opponent, map))
            duel.status = Duel.ACTIVE
            duel.next_round_at = now + timedelta(seconds=settings.GEOGAME_DUEL_START_S)
            duel.save(update_fields=STATE_FIELDS)
            _schedule_timer(duel)
        else:
            DuelSeat.objects.create(duel=duel, seat=1, invite_token=secrets.token_urlsafe(32))
            if watcher is not None:
                DuelSeat.objects.create(duel=duel, seat=2, player=watcher)
    return duel


def duel_min_rounds():
    """The fewest places a duel needs: a game's rounds, or all the rounds a duel may have if fewer."""
    return max(1, min(settings.GEOGAME_DUEL_MAX_ROUNDS, settings.GEOGAME_ROUNDS_PER_GAME))


def duel_join(*, token, player, now=None):
    """Seat `player` by an invite token; the duel starts GEOGAME_DUEL_START_S later.
    Opening the link again, once seated, just returns the duel."""
    now = now or timezone.now()
    with transaction.atomic():
        seat = DuelSeat.objects.filter(invite_token=token).first()
        if seat is None:
            raise DuelError(ERR_BAD_INVITE, status=404)
        duel = _locked(seat.duel_id)
        seat.refresh_from_db()
        if seat.player_id == player.id:
            return duel
        if duel.ranked and player.user_id is None:
            raise DuelError(ERR_RANKED_ACCOUNT, status=403)
        if seat.player_id is not None or duel.status != Duel.WAITING:
            raise DuelError(ERR_BAD_INVITE, status=404)
        if duel.seats.filter(player=player).exists():
            raise DuelError(ERR_OWN_INVITE)
        seat.player = player
        seat.save(update_fields=["player"])
        duel.status = Duel.ACTIVE
        duel.next_round_at = now + timedelta(seconds=settings.GEOGAME_DUEL_START_S)
        _event(
            duel,
            "seat_joined",
            seat=seat.seat,
            name=player.display_name,
            next_round_at=duel.next_round_at.isoformat(),
        )
        _schedule_timer(duel)
    return duel


# -- The clock -----------------------------------------------------------------------------------


def _locked(duel_id):
    return Duel.objects.select_for_update().select_related("game__map").get(id=duel_id)


def _grace():
    return timedelta(seconds=settings.GEOGAME_DEADLINE_GRACE_S)


def _past_deadline(rnd, now):
    return rules.is_past_deadline(rnd.deadline, now, settings.GEOGAME_DEADLINE_GRACE_S)


def _next_due(duel, rnd=None):
    """When the duel next needs the server's attention by itself, or None."""
    if duel.status != Duel.ACTIVE:
        return None
    if duel.round_open:
        rnd = rnd or current_round(duel)
        return None if rnd is None or rnd.deadline is None else rnd.deadline + _grace() + TIMER_SLACK
    return duel.next_round_at


def _waiting_for(duel):
    """What the duel waits for: ("deadline", round index) while a round is open, ("start", round
    index) before a round; None once it is over or still waiting for a player."""
    if duel.status != Duel.ACTIVE:
        return None
    if duel.round_open:
        return ("deadline", duel.round_index)
    return ("start", 0 if duel.round_index is None else duel.round_index + 1)


def _schedule_timer(duel, rnd=None):
    """A timer for the moment the duel now waits for. Set whenever that moment is new (a round
    starts or ends, a guess shortens the clock); a timer that fires after its moment has been
    dealt with finds the duel waiting for something else, and stops."""
    due = _next_due(duel, rnd)
    if due is not None:
        duel_events.run_at(due, TICK_TASK, duel.id, *_waiting_for(duel))


def duel_advance(*, duel_id, now=None):
    """Do what is due: start the next round, or end the current one whose clock (plus
    grace) ran out, recording 0 points for whoever did not guess. Safe to call any time
    and from anywhere (timers, reconnecting clients); most calls find nothing to do."""
    now = now or timezone.now()
    duel = Duel.objects.filter(id=duel_id).first()
    if duel is None or not _is_due(duel, now):
        return
    with transaction.atomic():
        duel = _locked(duel_id)
        if not _is_due(duel, now):
            return  # another caller got there first
        if duel.round_open:
            _round_end(duel, current_round(duel), now)
        else:
            _round_start(duel, now)


def _is_due(duel, now):
    if duel.status != Duel.ACTIVE:
        return False
    if duel.round_open:
        rnd = current_round(duel)
        return rnd is not None and _past_deadline(rnd, now)
    return duel.next_round_at is not None and duel.next_round_at <= now


def duel_timer_fired(*, duel_id, waiting_for, round_index, now=None):
    """A timer set for (`waiting_for`, `round_index`): advance the duel if it still waits for
    that, and set the timer again if it fired early (clocks, or a deadline moved later)."""
    key = (waiting_for, round_index)
    duel = Duel.objects.filter(id=duel_id).first()
    if duel is None or _waiting_for(duel) != key:
        return  # stale: that moment has been dealt with
    duel_advance(duel_id=duel_id, now=now)
    duel.refresh_from_db()
    due = _next_due(duel)
    if _waiting_for(duel) == key and due is not None and due > timezone.now():
        duel_events.run_at(due, TICK_TASK, duel.id, *key)


# -- Rounds --------------------------------------------------------------------------------------


def _event(duel, kind, **fields):
    duel.version += 1
    duel.save(update_fields=STATE_FIELDS)
    duel_events.publish(duel, kind, **fields)


def _round_start(duel, now):
    game = duel.game
    index = 0 if duel.round_index is None else duel.round_index + 1
    try:
        # The planned place, or a free one if it has become reserved (a study opened with it).
        location_id = services.round_location_id(game, index, now)
    except services.GameError:
        _duel_end(duel, duel_rules.verdict(duel.health, index, index), now, reason=NO_LOCATIONS)
        return None
    rnd = Round.objects.create(
        game=game,
        index=index,
        location_id=location_id,
        image_key=secrets.token_urlsafe(32),
        started_at=now,
        deadline=rules.deadline_for(now, game.time_limit_s),
    )
    duel.round_index, duel.round_open, duel.guessed, duel.next_round_at = index, True, [], None
    _event(duel, "round_started", round=duel_round_public(rnd), multiplier=duel_rules.multiplier(index + 1))
    _schedule_timer(duel, rnd)
    for seat in duel.seats.filter(player__kind="machine").select_related("player"):
        if machines.offer_round(rnd, seat.player):
            continue  # a bot: it answers over the bot API (geogame.bots), announced like a machine's
        # Computed by a worker right away; announced only after its think time (duel_machine_guessed).
        background.enqueue(MACHINE_GUESS_TASK, rnd.id, seat.player_id)
    return rnd


def _round_end(duel, rnd, now):
    """Score the round from the stored guesses (0 for a side without one), apply the damage
    and either set the next round's start or end the duel."""
    stored = {g.player_id: g for g in Guess.objects.filter(round=rnd)}
    by_seat = {}
    for seat in duel.seats.exclude(player=None).select_related("player"):
        guess = stored.get(seat.player_id)
        if guess is None and _past_deadline(rnd, now):
            # A 0-point timeout, stored like any guess: a late answer now finds it and is dropped.
            guess = services.round_expire_if_due(round=rnd, player=seat.player, now=now)
        if guess is not None:
            by_seat[seat.seat] = guess
    points = [by_seat[s].points if s in by_seat else None for s in DuelSeat.SIDES]
    outcome = duel_rules.apply_round(duel.health, points, rnd.index + 1)
    result = round_result(rnd, by_seat, outcome)
    verdict = duel_rules.verdict(outcome.health, rnd.index + 1, duel.game.rounds_total)
    if duel.ranked:
        missed = [s for s in DuelSeat.SIDES if s not in by_seat or by_seat[s].timed_out]
        forfeit = duel_rules.forfeit(missed)
        verdict = forfeit if forfeit.over else verdict
    duel.health = list(outcome.health)
    duel.results = [*duel.results, result]
    duel.round_open = False
    if not verdict.over:
        duel.next_round_at = now + timedelta(seconds=settings.GEOGAME_DUEL_INTERMISSION_S)
    _event(
        duel,
        "round_result",
        **result,
        next_round_at=duel.next_round_at.isoformat() if not verdict.over else None,
    )
    if verdict.over:
        _duel_end(duel, verdict, now)
    else:
        _schedule_timer(duel)


def _duel_end(duel, verdict, now, reason=None):
    reason = reason or verdict.reason
    duel.status, duel.winner_seat, duel.end_reason = Duel.FINISHED, verdict.winner, reason
    duel.finished_at, duel.next_round_at = now, None
    if duel.ranked:
        _duel_rate(duel, verdict.winner, now)
    _event(duel, "duel_over", winner=verdict.winner, reason=reason, health=duel.health)


def _duel_rate(duel, winner, now):
    """Rate a finished ranked duel, in the transaction that finishes it. One without a round played
    (no place was free) is not rated; a second finish of the same duel rates nothing (match_rate)."""
    if not duel.results:
        return
    seats = duel.seats.filter(seat__in=DuelSeat.SIDES).select_related("player").order_by("seat")
    sides = [ranked_services.Side(s.player, s.artefact) for s in seats]
    ranked_services.match_rate(game=duel.game, sides=sides, score=duel_rules.score_of_side_0(winner), now=now)


def _seat_guessed(duel, rnd, seat, now):
    """Announce that `seat` has guessed: the round ends once both sides have; otherwise the
    other side's clock drops to GEOGAME_DUEL_DROP_S."""
    if seat in duel.guessed:
        return
    duel.guessed = [*duel.guessed, seat]
    if all(s in duel.guessed for s in DuelSeat.SIDES):
        _round_end(duel, rnd, now)
        return
    if seat in DuelSeat.SIDES:
        deadline = duel_rules.deadline_after_guess(rnd.deadline, now, settings.GEOGAME_DUEL_DROP_S)
        if deadline != rnd.deadline:
            Round.objects.filter(id=rnd.id).update(deadline=deadline)
            rnd.deadline = deadline
            _schedule_timer(duel, rnd)
    _event(
        duel,
        "opponent_guessed",
        round=rnd.index,
        seat=seat,
        deadline=rnd.deadline.isoformat() if rnd.deadline else None,
    )


def check_guess(duel, seat, round_index, claimed_duel=None):
    """The round a seat may guess now, or DuelError saying why not."""
    if claimed_duel is not None and claimed_duel != str(duel.public_id):
        raise DuelError(ERR_OTHER_DUEL.format(duel=duel.public_id))
    if seat is None:
        raise DuelError(ERR_NOT_SEATED, status=404)
    if seat.seat not in DuelSeat.SIDES:
        raise DuelError(ERR_NOT_A_SIDE, status=403)
    if duel.status == Duel.FINISHED:
        raise DuelError(ERR_OVER, status=409)
    if duel.status == Duel.WAITING:
        raise DuelError(ERR_NOT_STARTED, status=409)
    if duel.round_index is None or round_index > duel.round_index:
        raise DuelError(ERR_ROUND_NOT_STARTED.format(round=round_index), status=409)
    if round_index < duel.round_index or not duel.round_open:
        raise DuelError(ERR_ROUND_OVER.format(round=round_index), status=409)
    return current_round(duel)


def duel_guess(*, duel_id, player_id, round_index, lat, lon, views_seen=(), claimed_duel=None, now=None):
    """A human side's guess. Returns {"round", "created", "version"}; `created` is False for a guess
    already counted (a resend, or another tab of the same player), which changes nothing.

    1. Check the seat and the round (check_guess).
    2. Store it through guess_submit, the one guess path (it also enforces the deadline).
    3. Announce it: opponent_guessed, or the round's result once both sides are in.
    A guess after the deadline (plus grace) ends the round and is refused.
    """
    now = now or timezone.now()
    late, created = None, False
    with transaction.atomic():
        duel = _locked(duel_id)
        seat = seat_for_player(duel, player_id)
        rnd = check_guess(duel, seat, round_index, claimed_duel)
        try:
            guess, created = services.guess_submit(
                round=rnd, player=seat.player, lat=lat, lon=lon, views_seen=list(views_seen), now=now
            )
        except services.GameError as exc:
            if exc.result is None:
                raise DuelError(exc.message, status=exc.status) from None
            late = exc.message  # a 0-point timeout is stored; end the round now, then refuse
            _round_end(duel, rnd, now)
        else:
            if created:
                _seat_guessed(duel, rnd, seat.seat, now)
    if late:
        raise DuelError(late, status=409)
    return {"round": round_index, "created": created, "version": duel.version}


# -- Machine seats -------------------------------------------------------------------------------


def machine_announce_at(started_at, think_s, round_s):
    """When a machine's guess stored with `think_s` (its time_taken_s) is announced: after its think
    time, and never so early that the human is left less than GEOGAME_MACHINE_MIN_HUMAN_S."""
    after = duel_rules.machine_announce_after_s(
        think_s, settings.GEOGAME_MACHINE_MIN_HUMAN_S, round_s, settings.GEOGAME_DUEL_DROP_S
    )
    return started_at + timedelta(seconds=after)


def duel_machine_guessed(*, guess, now=None):
    """A worker stored a machine's guess: announce it once the machine has "thought" (its stored
    think time, services.machine_think_record; so never before the humans have the views, nor
    before the floor), or now if it took longer than that. A late guess (a recorded timeout) has
    nothing to announce."""
    now = now or timezone.now()
    rnd = guess.round
    if guess.timed_out or not Duel.objects.filter(game_id=rnd.game_id).exists():
        return
    at = max(now, machine_announce_at(rnd.started_at, guess.time_taken_s, rnd.game.time_limit_s))
    duel_events.run_at(at, ANNOUNCE_TASK, rnd.id, guess.player_id)


def duel_machine_announce(*, round_id, player_id, now=None):
    """Announce a machine's stored guess, if its round is still the one being played;
    an answer for a round that has ended is stale and dropped."""
    now = now or timezone.now()
    rnd = Round.objects.filter(id=round_id).first()
    duel = Duel.objects.filter(game_id=rnd.game_id).first() if rnd else None
    if duel is None:
        return
    with transaction.atomic():
        duel = _locked(duel.id)
        if duel.status != Duel.ACTIVE or not duel.round_open or duel.round_index != rnd.index:
            return
        seat = seat_for_player(duel, player_id)
        guess = Guess.objects.filter(round=rnd, player_id=player_id).first()
        if seat is None or guess is None or guess.timed_out:
            return
        at = machine_announce_at(rnd.started_at, guess.time_taken_s, duel.game.time_limit_s)
        if now < at:  # a timer that fired early: never announce before the think time and the floor
            duel_events.run_at(at, ANNOUNCE_TASK, rnd.id, player_id)
            return
        _seat_guessed(duel, rnd, seat.seat, now)


# -- Catching up -----------------------------------------------------------------------------------


def duels_advance_overdue(now=None):
    """Do, for every active duel, what its timer tasks should have done by `now`: announce a
    machine's stored guess once it has "thought", start a round that is due, end one whose clock
    (plus grace) ran out. Timers are Celery ETA tasks that a worker holds in memory and loses when
    its broker connection drops; this needs no message at all. Each step is the timer's own (the
    duel's row locked, the condition checked again), so a sweep that races a timer or another
    sweep does nothing twice. Returns how many steps it tried."""
    now = now or timezone.now()
    current = Round.objects.filter(game_id=OuterRef("game_id"), index=OuterRef("round_index"))
    overdue = Duel.objects.filter(status=Duel.ACTIVE).filter(
        Q(round_open=False, next_round_at__lte=now)
        | Q(round_open=True) & Exists(current.filter(deadline__lt=now - _grace()))
    )
    seat = DuelSeat.objects.filter(duel__game_id=OuterRef("round__game_id"), player_id=OuterRef("player_id"))
    # Machine guesses in the open round of an active duel: one or two per duel, so each one's
    # announcement time (its own think time) is checked here rather than in SQL.
    unannounced = (
        Guess.objects.filter(
            timed_out=False,
            player__kind="machine",
            round__started_at__lte=now,
            round__game__duel__status=Duel.ACTIVE,
            round__game__duel__round_open=True,
            round__game__duel__round_index=F("round__index"),
        )
        .annotate(seat=Subquery(seat.values("seat")[:1]))
        .values_list(
            "round_id",
            "player_id",
            "seat",
            "round__game__duel__guessed",
            "round__started_at",
            "time_taken_s",
            "round__game__time_limit_s",
        )
    )
    steps = [
        (duel_machine_announce, {"round_id": round_id, "player_id": player_id})
        for round_id, player_id, seat_number, guessed, started_at, think_s, round_s in unannounced
        if seat_number is not None
        and seat_number not in guessed
        and machine_announce_at(started_at, think_s, round_s) <= now
    ]
    steps += [(duel_advance, {"duel_id": duel_id}) for duel_id in overdue.values_list("id", flat=True)]
    for step, args in steps:
        try:
            step(now=now, **args)
        except (OperationalError, InterfaceError):
            raise  # the database is gone: the next sweep tries again
        except Exception:  # one broken duel must not hold up the others
            log.exception("could not catch up: %s(%r)", step.__name__, args)
    return len(steps)
