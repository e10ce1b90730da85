"""Webhooks: a bot with a webhook URL is also sent each new round's offer (the long poll's JSON) in a
POST, signed so it can tell the server's calls from anyone else's:

    X-Geogame-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the hex SHA-256 of its token>

The bot knows its token, so it can compute the key; the server keeps only that hash. A failed call
(no answer, or a status that is not 2xx) is retried with backoff while the round is still open."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.utils import timezone

from geogame.game.models import Guess

from . import selectors
from .models import Bot

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Geogame-Signature"


def signature(token_hash, body):
    return "sha256=" + hmac.new(token_hash.encode(), body, hashlib.sha256).hexdigest()


def _absolute(path):
    return settings.GEOGAME_PUBLIC_URL.rstrip("/") + path


def deliver(*, round_id, player_id, sleep=time.sleep):
    """POST round `round_id`'s offer to the webhook of the bot playing as `player_id`; up to
    GEOGAME_BOT_WEBHOOK_ATTEMPTS tries, 1 s, 2 s, ... apart, while it is unanswered and not due.
    Returns "delivered", "failed" or why nothing was sent."""
    bot = Bot.objects.filter(player_id=player_id).first()
    if bot is None or bot.revoked_at is not None or not bot.webhook_url:
        return "no webhook"
    rnd = selectors.bot_round(bot, round_id)
    if rnd is None:
        return "no such round"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for attempt in range(1, settings.GEOGAME_BOT_WEBHOOK_ATTEMPTS + 1):
        now = timezone.now()
        if Guess.objects.filter(round=rnd, player_id=player_id).exists() or now > selectors.answer_due(rnd):
            return "answered or due"
        body = json.dumps(selectors.round_offer(_absolute, rnd, now)).encode()
        request = urllib.request.Request(bot.webhook_url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header(SIGNATURE_HEADER, signature(bot.token_hash, body))
        request.add_header("X-Geogame-Attempt", str(attempt))
        try:
            with opener.open(request, timeout=settings.GEOGAME_BOT_WEBHOOK_TIMEOUT_S) as response:
                if 200 <= response.status < 300:
                    return "delivered"
                problem = f"status {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"status {exc.code}"
        except (OSError, ValueError) as exc:  # refused, timed out, a bad URL
            problem = f"{type(exc).__name__}: {exc}"
        log.info("webhook of bot %s, round %s, attempt %d: %s", bot.name, round_id, attempt, problem)
        if attempt < settings.GEOGAME_BOT_WEBHOOK_ATTEMPTS:
            sleep(2 ** (attempt - 1))
    return "failed"
