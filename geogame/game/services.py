"""Game services: every write to games, rounds and guesses goes through here."""

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from geogame.common import background, geo
from geogame.common.errors import Refused
from geogame.maps.models import Map
from geogame.maps.rules import city_label

from . import hooks, location_pools, machines, rules, scoring
from .models import Game, Guess, Round
from .selectors import city_centres, round_view_count

ERR_NOT_FOUND = "no such game"
ERR_NOT_YOUR_ROUND = "this round belongs to another player"
ERR_NO_SUCH_ROUND = "no such round in this game"
ERR_DEADLINE = "the round's deadline has passed"
ERR_NEED_COORDS = "this round needs 'lat' and 'lon'"
ERR_NEED_CITY = "this round needs 'city', one of the candidate cities"
ERR_UNKNOWN_CITY = "'city' is not one of this map's candidate cities"
ERR_BAD_VIEWS = "'views_seen' must be a list of view numbers shown in this round"
ERR_TOO_FEW_LOCATIONS = "the map has {have} playable locations; a game needs {need}"
ERR_TOO_FEW_UNSEEN = (
    "this map has {have} places the {name} player has never seen; a game against it needs {need}. "
    "Play without a machine opponent, or choose a map with more places."
)
ERR_NO_FREE_LOCATION = (
    "round {number} cannot start: every place left on this map is in use by a duel, a study or a "
    "challenge right now; try again later"
)
ERR_GAME_OVER = "the game is over"
ERR_BAD_TIME_LIMIT = "time limit must be a whole number of seconds between 10 and 600, or empty"
ERR_CITY_MODE_NEEDS_CITIES = "city mode needs a map with at least two cities"
ERR_OPPONENT_UNAVAILABLE = "the {name} player cannot play this map: {reason}"


class GameError(Refused):
    """A request the rules refuse; `result` is what the client may still be shown."""

    def __init__(self, message, status=400, result=None):
        super().__init__(message, status)
        self.result = result


def playable_locations(m, mode):
    return location_pools.playable(m, mode)


def game_create(
    *, player, map: Map, mode=Game.COORDINATES, time_limit_s=None, rounds_total=None, seed=None, opponent=""
):
    """A new game; `opponent` names a machine player ("" for none). Its locations are drawn now
    (geogame.game.location_pools): against a machine only places it never learned from, and never a
    reserved one; each round checks its own again when it starts (round_next)."""
    rounds_total = rounds_total or settings.GEOGAME_ROUNDS_PER_GAME
    if time_limit_s is not None and not (10 <= time_limit_s <= 600):
        raise GameError(ERR_BAD_TIME_LIMIT)
    if mode == Game.CITY and len(city_centres(map)) < 2:
        raise GameError(ERR_CITY_MODE_NEEDS_CITIES)
    opponent_player = None
    if opponent:
        from .machines import UnknownPlayer, availability, machine_player_get

        try:
            reason = availability(opponent, map)
        except UnknownPlayer as exc:
            raise GameError(str(exc)) from None
        if reason:
            raise GameError(ERR_OPPONENT_UNAVAILABLE.format(name=opponent, reason=reason))
        opponent_player = machine_player_get(opponent)
    ids = location_pools.pool_ids(map, mode, [opponent] if opponent else ())
    if len(ids) < rounds_total:
        if opponent:
            raise GameError(ERR_TOO_FEW_UNSEEN.format(have=len(ids), name=opponent, need=rounds_total))
        raise GameError(ERR_TOO_FEW_LOCATIONS.format(have=len(ids), need=rounds_total))
    seed = secrets.randbits(62) if seed is None else seed
    return Game.objects.create(
        player=player,
        opponent=opponent_player,
        map=map,
        mode=mode,
        rounds_total=rounds_total,
        time_limit_s=time_limit_s,
        seed=seed,
        location_order=rules.choose_locations(ids, rounds_total, seed),
    )


def game_create_planned(*, player, map: Map, location_ids, mode=Game.COORDINATES, time_limit_s=None):
    """A new game over `location_ids` in that order (a challenge's, a daily's): the area that
    plans them checks them against the fair-contest rules (location_pools) and registers the
    game's order as fixed (hooks.fixed_order), so no round swaps its place for another."""
    if time_limit_s is not None and not (10 <= time_limit_s <= 600):
        raise GameError(ERR_BAD_TIME_LIMIT)
    return Game.objects.create(
        player=player,
        map=map,
        mode=mode,
        rounds_total=len(location_ids),
        time_limit_s=time_limit_s,
        seed=secrets.randbits(62),
        location_order=list(location_ids),
    )


def machine_game_play(*, game, now=None):
    """Start every round of `game`, whose player is a machine (a daily's machine attempt), and
    have the machine guess each through the usual path: the inference.machine_guess task, or for a
    player that fetches its rounds itself (a bot) the round's offer.
    Safe to call twice: rounds that exist are kept, and a stored guess stops a redelivered task."""
    now = now or timezone.now()
    planned = game_location_ids(game)
    existing = set(game.rounds.values_list("index", flat=True))
    for index, location_id in enumerate(planned):
        if index in existing:
            continue
        try:
            with transaction.atomic():
                rnd = Round.objects.create(
                    game=game, index=index, location_id=location_id, image_key=secrets.token_urlsafe(32),
                    started_at=now, deadline=rules.deadline_for(now, game.time_limit_s),
                )
        except IntegrityError:
            continue
        if not machines.offer_round(rnd, game.player):
            background.enqueue("inference.machine_guess", rnd.id, game.player_id)


def game_machine_names(game):
    """The machine players guessing in `game` (its opponent, or a duel's machine seats)."""
    names = set()
    if game.opponent_id and game.opponent.machine_name:
        names.add(game.opponent.machine_name)
    seats = hooks.seated_players(game).filter(kind="machine")
    names.update(n for n in seats.values_list("machine_name", flat=True) if n)
    return sorted(names)


def game_location_ids(game):
    """The planned location of each round. Games before location_order was always set are drawn
    from `seed` over the playable locations, as they were."""
    if game.location_order is not None:
        return list(game.location_order)
    ids = playable_locations(game.map, game.mode).values_list("id", flat=True)
    return rules.choose_locations(list(ids), game.rounds_total, game.seed)


def round_location_id(game, index, now=None):
    """The location round `index` shows if it starts `now`: the planned one, or, if that became
    reserved since (a duel showed it, a study opened with it), an unreserved one not in this game,
    drawn from the game's pool by its seed. A study's fixed order is never changed."""
    planned = game_location_ids(game)
    location_id = planned[index]
    traits = hooks.game_traits(game)
    if traits["fixed_order"]:
        return location_id
    now = now or timezone.now()
    for_duel = traits["is_duel"]
    if location_id not in location_pools.reserved_location_ids(game.map, now, game, for_duel):
        return location_id
    used = set(planned) | set(game.rounds.values_list("location_id", flat=True))
    machines = game_machine_names(game)
    pool = location_pools.pool_ids(game.map, game.mode, machines, now, game, for_duel) - used
    substitute = rules.substitute_location(pool, game.seed, index)
    if substitute is None:
        raise GameError(ERR_NO_FREE_LOCATION.format(number=index + 1), status=409)
    return substitute


MAX_THINK_SAMPLES = 2000  # the newest human answer times on a map a think time is drawn from


def machine_think_s(*, round, player):
    """The think time of machine `player` in `round`: drawn by rules.machine_think_s from the map's
    human answer times (not timed out), seeded by the game, the round and the player."""
    game = round.game
    times = (
        Guess.objects.filter(round__game__map_id=game.map_id, player__kind="human", timed_out=False)
        .order_by("-id")
        .values_list("time_taken_s", flat=True)[:MAX_THINK_SAMPLES]
    )
    return rules.machine_think_s(
        rules.stable_seed(game.seed, round.index, player.machine_name or player.id, "think"),
        list(times),
        min_s=settings.GEOGAME_MACHINE_THINK_MIN_S,
        max_s=settings.GEOGAME_MACHINE_THINK_MAX_S,
        min_samples=settings.GEOGAME_MACHINE_THINK_MIN_SAMPLES,
        fixed_s=settings.GEOGAME_MACHINE_THINK_S,
        limit_s=game.time_limit_s,
    )


def machine_think_record(guess):
    """Record a machine's fresh guess as taking its think time (or longer, if it really did): the
    duel announces it then (geogame.duels.services.duel_machine_guessed); a game shows it after the player's
    own guess. Stored once, so a redelivered task reads the same time."""
    if guess.timed_out:
        return guess
    think = max(guess.time_taken_s, machine_think_s(round=guess.round, player=guess.player))
    Guess.objects.filter(id=guess.id).update(time_taken_s=think)
    guess.time_taken_s = think
    return guess


def round_expire_if_due(*, round, player, now=None):
    """Record a 0-point timeout for `player` once the deadline (plus grace) has passed."""
    now = now or timezone.now()
    if not rules.is_past_deadline(round.deadline, now, settings.GEOGAME_DEADLINE_GRACE_S):
        return None
    guess, _ = _guess_store(
        round=round,
        player=player,
        fields=dict(
            points=0,
            timed_out=True,
            time_taken_s=(round.deadline - round.started_at).total_seconds(),
            # City mode: no city named is a wrong answer, so averaging `correct` counts it.
            correct=False if round.game.mode == Game.CITY else None,
        ),
    )
    return guess


def round_timeout_record(*, round, player, now=None):
    """Record a 0-point timeout for `player` now, whatever the round's own deadline (a bot's answer
    time in a round without a timer, geogame.bots). Returns (guess, created): a guess already
    stored stays as it is."""
    now = now or timezone.now()
    return _guess_store(
        round=round,
        player=player,
        fields=dict(
            points=0, timed_out=True, time_taken_s=max(0.0, (now - round.started_at).total_seconds())
        ),
    )


def round_guess(*, round, player, now=None):
    """`player`'s guess in `round`: the stored one, or a 0-point timeout recorded now when the
    deadline (plus grace) has passed; None while the round is still open to them."""
    guess = Guess.objects.filter(round=round, player=player).first()
    if guess is not None:
        guess.round = round  # the same row, already loaded
        return guess
    return round_expire_if_due(round=round, player=player, now=now)


def round_is_done(*, round, player, now=None):
    return round_guess(round=round, player=player, now=now) is not None


def round_next(*, game, now=None):
    """The round to play now: the current one until it is guessed or timed out,
    then a new one. None when the game is over. Safe to call twice at once."""
    now = now or timezone.now()
    current = game.rounds.order_by("-index").first()
    if current is not None and not round_is_done(round=current, player=game.player, now=now):
        return current
    index = 0 if current is None else current.index + 1
    if index >= game.rounds_total:
        return None
    location_id = round_location_id(game, index, now)
    try:
        with transaction.atomic():
            rnd = Round.objects.create(
                game=game,
                index=index,
                location_id=location_id,
                image_key=secrets.token_urlsafe(32),
                started_at=now,
                deadline=rules.deadline_for(now, game.time_limit_s),
            )
            if game.opponent_id and not machines.offer_round(rnd, game.opponent):
                # Computed right away, stored, and shown only after the player's guess.
                background.enqueue("inference.machine_guess", rnd.id, game.opponent_id)
            return rnd
    except IntegrityError:
        # Another request started this round first; use theirs.
        return game.rounds.get(index=index)


def round_shown(*, game, now=None):
    """The round a state request shows: the latest one (recording its timeout if due), or the
    first one, started now."""
    return round_shown_with_guess(game=game, now=now)[0]


def round_shown_with_guess(*, game, now=None):
    """(round_shown, the player's guess in it or None), asking for the guess once."""
    current = game.rounds.order_by("-index").first()
    if current is None:
        return round_next(game=game, now=now), None
    return current, round_guess(round=current, player=game.player, now=now)


def round_expire_latest(*, game, now=None):
    """Record the latest round's timeout if its clock has run out (starts nothing): the summary
    then counts it as finished."""
    current = game.rounds.order_by("-index").first()
    if current is not None:
        round_is_done(round=current, player=game.player, now=now)


def round_has_player(*, round, player):
    """Whether `player` plays `round`: its game's player or machine opponent, or a seat of its duel."""
    if player.id in (round.game.player_id, round.game.opponent_id):
        return True
    return hooks.seated_players(round.game).filter(id=player.id).exists()


def _guess_store(*, round, player, fields):
    """Create the player's only guess for the round, or return the existing one.
    Returns (guess, created)."""
    try:
        with transaction.atomic():
            return Guess.objects.create(round=round, player=player, **fields), True
    except IntegrityError:
        return Guess.objects.get(round=round, player=player), False


def _check_views_seen(views_seen, view_count):
    if views_seen is None:
        return []
    if not isinstance(views_seen, list) or len(views_seen) > 32:
        raise GameError(ERR_BAD_VIEWS)
    out = []
    for v in views_seen:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < view_count:
            raise GameError(ERR_BAD_VIEWS)
        if v not in out:
            out.append(v)
    return out


def guess_submit(
    *, round, player, lat=None, lon=None, city=None, views_seen=None, view_ms=None, screen=None, now=None
):
    """Score and store a player's guess. Returns (guess, created).

    1. Only the game's own player may guess.
    2. A second submit returns the first guess unchanged.
    3. After the deadline (plus grace) the round is recorded as a 0-point
       timeout and the guess is refused with ERR_DEADLINE.
    4. Otherwise validate, score against the location and store.
    """
    now = now or timezone.now()
    if not round_has_player(round=round, player=player):
        raise GameError(ERR_NOT_YOUR_ROUND, status=404)
    existing = Guess.objects.filter(round=round, player=player).first()
    if existing is not None:
        return existing, False
    timed_out = round_expire_if_due(round=round, player=player, now=now)
    if timed_out is not None:
        raise GameError(ERR_DEADLINE, status=409, result=timed_out)

    view_count = round_view_count(round)
    views_seen = _check_views_seen(views_seen, view_count)
    try:
        view_ms = rules.check_view_ms(view_ms, view_count)
        screen_w, screen_h = rules.check_screen(screen)
    except ValueError as exc:
        raise GameError(str(exc)) from None
    loc = round.location
    fields = dict(
        views_seen=views_seen,
        view_ms=view_ms,
        screen_w=screen_w,
        screen_h=screen_h,
        time_taken_s=max(0.0, (now - round.started_at).total_seconds()),
    )
    if round.game.mode == Game.CITY:
        if not isinstance(city, str) or not city:
            raise GameError(ERR_NEED_CITY)
        centres = city_centres(round.game.map)
        if city not in centres:
            raise GameError(ERR_UNKNOWN_CITY)
        score = scoring.score_city_guess(
            answer=(loc.lat, loc.lon),
            answer_city=city_label(loc.city, loc.country),
            chosen_city=city,
            chosen_centre=centres[city],
        )
        lat, lon = centres[city]
        fields.update(city=city, lat=lat, lon=lon, correct=score.correct)
    else:
        if lat is None or lon is None or isinstance(lat, bool) or isinstance(lon, bool):
            raise GameError(ERR_NEED_COORDS)
        try:
            lat, lon = geo.check_latlon(lat, lon, numbers_only=True)
        except ValueError as exc:
            raise GameError(str(exc)) from None
        score = scoring.score_guess(
            answer=(loc.lat, loc.lon), guess=(lat, lon), scale_km=round.game.map.scale_km
        )
        fields.update(lat=lat, lon=lon)
    fields.update(distance_km=score.distance_km, points=score.points)
    return _guess_store(round=round, player=player, fields=fields)
