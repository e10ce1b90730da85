"""Reads for the bot API: who a token belongs to, which rounds a bot has to answer, what it is shown."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from geogame.game import services as game_services
from geogame.game.machines import UnknownPlayer
from geogame.game.models import Game, Guess, Round
from geogame.game.selectors import city_centres, round_view_count

from . import rules
from .models import Bot

ERR_UNKNOWN = "unknown player {name!r}: no bot has this name"
REASON_REVOKED = "its token was revoked"
REASON_MISSES = "it missed {n} answer deadlines in a row; it comes back when it polls for rounds again"
DEFAULT_DESCRIPTION = "a program outside this server, playing over the bot API"


def bot_named(machine_name):
    """The Bot behind machine-player name `bot:<name>`, or UnknownPlayer."""
    name = machine_name.removeprefix(rules.NAME_PREFIX)
    bot = Bot.objects.select_related("player").filter(name=name).first()
    if bot is None:
        raise UnknownPlayer(ERR_UNKNOWN.format(name=machine_name))
    return bot


def bot_machine_names():
    return [
        rules.NAME_PREFIX + n
        for n in Bot.objects.filter(revoked_at=None).order_by("name").values_list("name", flat=True)
    ]


def bot_description(machine_name):
    return bot_named(machine_name).description or DEFAULT_DESCRIPTION


def unavailable_reason(bot):
    if bot.revoked_at is not None:
        return REASON_REVOKED
    if bot.unavailable_since is not None:
        return REASON_MISSES.format(n=settings.GEOGAME_BOT_MISSES_MAX)
    return None


def bot_availability(machine_name, m):
    """None if the bot may be chosen to play (on any map: it brings its own model), else why not."""
    return unavailable_reason(bot_named(machine_name))


def bot_player(machine_name):
    return bot_named(machine_name).player


def bot_for_token(token):
    """The Bot whose token this is (revoked or not), or None."""
    if not token or len(token) > 200:
        return None
    return Bot.objects.select_related("player").filter(token_hash=rules.token_hash(token)).first()


def bearer_token(request):
    """The token of an `Authorization: Bearer <token>` header, or ""."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def bot_rounds(player):
    """Every round `player` (a bot's) plays: as a game's player (a daily's machine attempt), its
    opponent or in a duel's seat."""
    return Round.objects.filter(
        Q(game__player=player) | Q(game__opponent=player) | Q(game__duel__seats__player=player)
    )


def _unanswered(rounds, player):
    return rounds.filter(~Exists(Guess.objects.filter(round=OuterRef("pk"), player=player)))


def rounds_to_answer(bot, now=None):
    """The rounds the bot has not answered whose answer deadline is still ahead, oldest first."""
    now = now or timezone.now()
    untimed_since = now - timedelta(seconds=settings.GEOGAME_BOT_UNTIMED_ANSWER_S)
    due = Q(deadline__isnull=False, deadline__gt=now) | Q(deadline__isnull=True, started_at__gt=untimed_since)
    rounds = _unanswered(bot_rounds(bot.player), bot.player).filter(due, started_at__lte=now)
    return rounds.select_related("game__map").order_by("started_at", "id").distinct()


def rounds_overdue(player, now=None):
    """The rounds `player` has not answered whose answer deadline (plus grace) has passed."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.GEOGAME_DEADLINE_GRACE_S)
    untimed_before = now - grace - timedelta(seconds=settings.GEOGAME_BOT_UNTIMED_ANSWER_S)
    late = Q(deadline__isnull=False, deadline__lt=now - grace) | Q(
        deadline__isnull=True, started_at__lt=untimed_before
    )
    return _unanswered(bot_rounds(player), player).filter(late).distinct()


def bot_round(bot, round_id):
    """Round `round_id` if the bot plays it, else None (another bot's round looks like no round)."""
    rnd = Round.objects.select_related("game__map", "location").filter(id=round_id).first()
    if rnd is None or not game_services.round_has_player(round=rnd, player=bot.player):
        return None
    return rnd


def answer_due(rnd):
    return rules.answer_deadline(rnd.started_at, rnd.deadline, settings.GEOGAME_BOT_UNTIMED_ANSWER_S)


def round_offer(absolute, rnd, now=None):
    """What a bot is shown of a round: its id, deadline and image URLs (the bytes a person is served;
    geogame.game.round_images), and for a city round the candidate cities. Nothing names the place.
    `absolute(path)` makes a URL absolute (request.build_absolute_uri, or the webhook's base URL)."""
    now = now or timezone.now()
    due = answer_due(rnd)
    game = rnd.game
    offer = {
        "round": rnd.id,
        "index": rnd.index,
        "rounds_total": game.rounds_total,
        "mode": game.mode,
        "started_at": rnd.started_at.isoformat(),
        "deadline": due.isoformat(),
        "seconds_left": round(max(0.0, (due - now).total_seconds()), 3),
        "map": {"name": game.map.name, "scale_km": game.map.scale_km},
        "views": [
            absolute(reverse("view-image", args=[rnd.image_key, i])) for i in range(round_view_count(rnd))
        ],
        "guess_url": absolute(reverse("bot-guess", args=[rnd.id])),
    }
    if game.mode == Game.CITY:
        offer["cities"] = sorted(city_centres(game.map))
    return offer


def may_see_round(request, rnd):
    """A bot's request (its bearer token) may fetch the images of the rounds it plays."""
    token = bearer_token(request)
    if not token:
        return False
    bot = bot_for_token(token)
    return (
        bot is not None
        and bot.revoked_at is None
        and game_services.round_has_player(round=rnd, player=bot.player)
    )


def bot_list():
    """Every bot for the staff page, newest first, with its rounds answered and missed."""
    bots = Bot.objects.select_related("player").order_by("-created_at")
    rows = []
    for bot in bots:
        guesses = Guess.objects.filter(player=bot.player)
        rows.append(
            {
                "bot": bot,
                "machine_name": rules.NAME_PREFIX + bot.name,
                "answered": guesses.filter(timed_out=False).count(),
                "missed": guesses.filter(timed_out=True).count(),
                "unavailable": unavailable_reason(bot),
            }
        )
    return rows


# The benchmark's bot games play their places in the order given (geogame.game.hooks: fixed_order).
BENCHMARK_GAMES = Q(bot_benchmark__isnull=False)
