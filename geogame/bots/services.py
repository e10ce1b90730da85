"""Bot services: every write the bot API makes goes through here. A bot's guess is stored by the
game's one guess path (geogame.game.services.guess_submit) and, in a duel, announced as a machine's is."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from geogame.common import background
from geogame.common.errors import Refused
from geogame.duels import events as duel_events
from geogame.duels import services as duel_services
from geogame.game import services as game_services
from geogame.game.models import Game, Guess
from players.models import Player

from . import rules, selectors
from .models import Bot, BotBenchmarkGame, BotPrediction

log = logging.getLogger(__name__)

EXPIRE_TASK = "geogame.bot_round_expire"
WEBHOOK_TASK = "geogame.bot_webhook"
SEEN_EVERY = timedelta(seconds=10)  # last_seen_at is written at most this often per bot

ERR_NAME_TAKEN = "a bot named {name!r} exists already"
ERR_NO_SUCH_ROUND = "no such round for this bot"
ERR_DEADLINE = "the round's answer deadline has passed; a 0-point miss is recorded"
ERR_NEED_COORDS = "this round needs 'lat' and 'lon'"
ERR_WEBHOOK_URL = "the webhook URL must be an http:// or https:// URL of at most 300 characters"


class BotError(Refused):
    """A bot API request refused."""


def group_name(player_id):
    """The channel-layer group a bot's long polls wait on (geogame.bots.views.api_next_round)."""
    return f"bots.{player_id}"


def bot_create(*, name, description="", webhook_url=""):
    """A new bot and its token: (bot, token). Only the token's hash is kept; show the token once."""
    rules.check_name(name)
    if webhook_url:
        try:
            URLValidator(schemes=["http", "https"])(webhook_url)
        except ValidationError:
            raise BotError(ERR_WEBHOOK_URL) from None
        if len(webhook_url) > 300:
            raise BotError(ERR_WEBHOOK_URL)
    description = (description or "").strip()[:200]
    token = rules.new_token()
    machine_name = rules.NAME_PREFIX + name
    try:
        with transaction.atomic():
            if (
                Bot.objects.filter(name=name).exists()
                or Player.objects.filter(kind=Player.MACHINE, machine_name=machine_name).exists()
            ):
                raise BotError(ERR_NAME_TAKEN.format(name=name), status=409)
            player = Player.objects.create(
                kind=Player.MACHINE, machine_name=machine_name, display_name=f"{name} (bot)"
            )
            bot = Bot.objects.create(
                name=name,
                description=description,
                player=player,
                token_hash=rules.token_hash(token),
                token_hint=token[:10],
                webhook_url=webhook_url,
            )
    except IntegrityError:  # a concurrent create took the name
        raise BotError(ERR_NAME_TAKEN.format(name=name), status=409) from None
    return bot, token


def bot_revoke(*, bot, now=None):
    """Revoke the bot's token: its next request, and any poll already waiting, is refused."""
    if bot.revoked_at is None:
        bot.revoked_at = now or timezone.now()
        Bot.objects.filter(id=bot.id, revoked_at=None).update(revoked_at=bot.revoked_at)
        duel_events.group_send_after_commit(group_name(bot.player_id), {"type": "bot.revoked"})
    return bot


def bot_seen(*, bot, now=None):
    """The bot asked for rounds: it is alive, so available again after missed deadlines."""
    now = now or timezone.now()
    if bot.unavailable_since is not None or bot.last_seen_at is None or now - bot.last_seen_at > SEEN_EVERY:
        Bot.objects.filter(id=bot.id).update(last_seen_at=now, unavailable_since=None)
        bot.last_seen_at, bot.unavailable_since = now, None


def round_offer(rnd, player):
    """A round `player` (a bot's) plays has started: wake its long polls once the round commits,
    call its webhook if it has one, and record a miss if no answer has come by the answer deadline."""
    duel_events.group_send_after_commit(group_name(player.id), {"type": "bot.round"})
    due = selectors.answer_due(rnd) + timedelta(seconds=settings.GEOGAME_DEADLINE_GRACE_S)
    duel_events.run_at(due + duel_services.TIMER_SLACK, EXPIRE_TASK, rnd.id, player.id)
    if Bot.objects.filter(player_id=player.id).exclude(webhook_url="").exists():
        background.enqueue(WEBHOOK_TASK, rnd.id, player.id)


def bot_guess(*, bot, round_id, data, now=None):
    """Store the bot's answer to round `round_id`: (guess, created). Idempotent: a second answer
    returns the first unchanged. Refused with nothing stored: a round the bot does not play (404),
    a bad pin, top-k list or grid (400). After the answer deadline a miss is stored and 409 raised."""
    now = now or timezone.now()
    rnd = selectors.bot_round(bot, round_id)
    if rnd is None:
        raise BotError(ERR_NO_SUCH_ROUND, status=404)
    existing = Guess.objects.filter(round=rnd, player=bot.player).first()
    if existing is not None:
        if existing.timed_out:  # its miss is recorded: an answer now is late
            raise BotError(ERR_DEADLINE, status=409)
        return existing, False
    if rules.is_late(selectors.answer_due(rnd), now, settings.GEOGAME_DEADLINE_GRACE_S):
        round_expire(round_id=rnd.id, player_id=bot.player_id, now=now)
        raise BotError(ERR_DEADLINE, status=409)
    try:
        top_k = rules.check_top_k(data.get("top_k"))
        grid = rules.check_grid(data.get("grid"))
    except ValueError as exc:
        raise BotError(str(exc)) from None
    if rnd.game.mode != rnd.game.CITY and (data.get("lat") is None or data.get("lon") is None):
        raise BotError(ERR_NEED_COORDS)
    views = list(range(selectors.round_view_count(rnd)))
    with transaction.atomic():
        try:
            guess, created = game_services.guess_submit(
                round=rnd,
                player=bot.player,
                lat=data.get("lat"),
                lon=data.get("lon"),
                city=data.get("city"),
                views_seen=views,
                now=now,
            )
        except game_services.GameError as exc:
            raise BotError(exc.message, status=exc.status) from None
        if created:
            if top_k is not None or grid is not None:
                BotPrediction.objects.create(guess=guess, top_k=top_k, grid=grid)
            duel_services.duel_machine_guessed(guess=guess, now=now)
    return guess, created


def round_expire(*, round_id, player_id, now=None):
    """Record the bot's miss in a round whose answer deadline (plus grace) has passed without an
    answer, and mark the bot unavailable after GEOGAME_BOT_MISSES_MAX misses in a row. Safe to run
    twice, and early (it does nothing before the deadline)."""
    now = now or timezone.now()
    bot = Bot.objects.select_related("player").filter(player_id=player_id).first()
    rnd = selectors.bot_round(bot, round_id) if bot else None
    if rnd is None:
        return None
    if not rules.is_late(selectors.answer_due(rnd), now, settings.GEOGAME_DEADLINE_GRACE_S):
        return None
    guess, _ = game_services.round_timeout_record(round=rnd, player=bot.player, now=now)
    if guess.timed_out:  # stored now, or by the round itself (a duel records its seats' misses)
        misses_check(bot=bot, now=now)
    return guess


def misses_check(*, bot, now=None):
    """Mark the bot unavailable once its latest GEOGAME_BOT_MISSES_MAX answers were all misses."""
    most = settings.GEOGAME_BOT_MISSES_MAX
    latest = Guess.objects.filter(player=bot.player).order_by("-round__started_at", "-id")
    flags = list(latest.values_list("timed_out", flat=True)[:most])
    if most > 0 and rules.misses_in_a_row(flags) >= most and bot.unavailable_since is None:
        bot.unavailable_since = now or timezone.now()
        Bot.objects.filter(id=bot.id).update(unavailable_since=bot.unavailable_since)
        log.info("bot %s marked unavailable: %d missed deadlines in a row", bot.name, most)


def bot_rounds_expire(*, bot, now=None):
    """Record every miss of `bot` whose timer has not (a lost timer task); returns how many."""
    overdue = list(selectors.rounds_overdue(bot.player, now).values_list("id", flat=True))
    for round_id in overdue:
        round_expire(round_id=round_id, player_id=bot.player_id, now=now)
    return len(overdue)


BENCHMARK_PLAYER = "benchmark (bot API)"


def bot_benchmark_guesses(*, bot, m, locations, round_s, poll_s=0.05):
    """Offer the bot each of `locations` in turn, as a timed round of a game of its own (fixed order:
    the benchmark's places, never substituted), and wait for its answer or the deadline. Returns one
    Guess (None for a miss) per location, in order; its BotPrediction, if it sent one, is stored."""
    player = Player.objects.create(display_name=BENCHMARK_PLAYER)
    with transaction.atomic():
        game = Game.objects.create(
            player=player,
            opponent=bot.player,
            map=m,
            mode=Game.COORDINATES,
            rounds_total=len(locations),
            time_limit_s=round_s,
            seed=0,
            location_order=[loc.id for loc in locations],
        )
        BotBenchmarkGame.objects.create(game=game)
    guesses = []
    for _ in locations:
        rnd = game_services.round_next(game=game)
        due = selectors.answer_due(rnd) + timedelta(seconds=settings.GEOGAME_DEADLINE_GRACE_S)
        while True:
            guess = Guess.objects.filter(round=rnd, player=bot.player).first()
            if guess is not None or timezone.now() > due:
                break
            time.sleep(poll_s)
        if guess is None:
            guess = round_expire(round_id=rnd.id, player_id=bot.player_id)
        guesses.append(None if guess is None or guess.timed_out else guess)
        game_services.round_timeout_record(round=rnd, player=player)  # the next round may start
    return guesses
