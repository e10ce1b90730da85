"""The bot API (docs/bot-api.md) and the staff page for bots. Thin: parse, call a service or a
selector, answer. The long poll is an async view: a waiting bot holds no thread, only a
channel-layer subscription that a new round (or a revocation) wakes."""

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from geogame.common import json_input, ratelimit
from geogame.duels import events as duel_events

from . import selectors, services
from .models import Bot

ERR_NO_TOKEN = "this API needs the header 'Authorization: Bearer <token>' with the bot's token"
ERR_BAD_TOKEN = "unknown token"
ERR_REVOKED = "this bot's token was revoked"
ERR_WAIT = "'wait' must be a number of seconds, 0 or more (the server waits at most GEOGAME_BOT_POLL_MAX_S)"
ERR_BODY_TOO_BIG = "request body is larger than {most} bytes"
ERR_BODY = "request body: {reason}"
ERR_NOT_OBJECT = "request body must be a JSON object"


def json_error(message, status=400, **headers):
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _unauthorized(message):
    return json_error(message, status=401, WWW_Authenticate='Bearer realm="geogame bots"')


def _authenticate(request):
    """(bot, None) for a request with a live bot's token within its rate limits, else (None, response).
    The address is counted before the token is looked at, so guessing tokens is rate limited too."""
    decision = ratelimit.hit("bot_address", ratelimit.client_address(request))
    if not decision.allowed:
        return None, ratelimit.too_many_requests(decision)
    token = selectors.bearer_token(request)
    if not token:
        return None, _unauthorized(ERR_NO_TOKEN)
    bot = selectors.bot_for_token(token)
    if bot is None:
        return None, _unauthorized(ERR_BAD_TOKEN)
    if bot.revoked_at is not None:
        return None, _unauthorized(ERR_REVOKED)
    decision = ratelimit.hit("bot", f"bot:{bot.id}")
    if not decision.allowed:
        return None, ratelimit.too_many_requests(decision)
    return bot, None


def _wait_s(request):
    most = settings.GEOGAME_BOT_POLL_MAX_S
    raw = request.GET.get("wait")
    if raw is None:
        return most
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not wait >= 0:  # NaN too
        raise ValueError(ERR_WAIT)
    return min(wait, most)


def _start_poll(request):
    bot, error = _authenticate(request)
    if error is None:
        services.bot_seen(bot=bot)
        services.bot_rounds_expire(bot=bot)
    return bot, error


def _offer(request, bot):
    """(offer or None, error response or None), the bot read afresh (a revocation stops it at once)."""
    if Bot.objects.filter(id=bot.id).exclude(revoked_at=None).exists():
        return None, _unauthorized(ERR_REVOKED)
    rnd = selectors.rounds_to_answer(bot).first()
    return (selectors.round_offer(request.build_absolute_uri, rnd) if rnd else None), None


async def api_next_round(request):
    """GET /api/bot/rounds/next?wait=S: the oldest round the bot has yet to answer, at once, or as
    soon as one starts within `wait` seconds (default and cap GEOGAME_BOT_POLL_MAX_S); 204 if none."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    try:
        wait_s = _wait_s(request)
    except ValueError as exc:
        return json_error(str(exc))
    bot, error = await sync_to_async(_start_poll)(request)
    if error is not None:
        return error
    loop = asyncio.get_running_loop()
    duel_events.remember_loop(loop)  # the in-memory layer is sent to on this loop
    layer = get_channel_layer()
    group = services.group_name(bot.player_id)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        ends = loop.time() + wait_s
        while True:
            offer, error = await sync_to_async(_offer)(request, bot)
            if error is not None or offer is not None:
                return error or JsonResponse(offer)
            left = ends - loop.time()
            if left <= 0:
                return HttpResponse(status=204)
            try:
                # Woken by a new round or a revocation; else look again now and then (a lost message).
                await asyncio.wait_for(layer.receive(channel), min(left, settings.GEOGAME_BOT_POLL_RECHECK_S))
            except TimeoutError:
                pass
    finally:
        await layer.group_discard(group, channel)


def _read_json(request):
    most = settings.GEOGAME_BOT_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > most:  # refused before the body is read
        return None, json_error(ERR_BODY_TOO_BIG.format(most=most), status=413)
    try:
        body = request.body
    except RequestDataTooBig:
        body = None
    if body is None or len(body) > most:
        return None, json_error(ERR_BODY_TOO_BIG.format(most=most), status=413)
    try:
        data = json_input.loads(body or b"null", constants=True)
    except json_input.JsonInputError as exc:
        return None, json_error(ERR_BODY.format(reason=exc))
    if not isinstance(data, dict):
        return None, json_error(ERR_NOT_OBJECT)
    return data, None


@csrf_exempt  # a bearer token, never a cookie: nothing for another site to forge
def api_guess(request, round_id):
    """POST /api/bot/rounds/<id>/guess {"lat", "lon", "top_k"?, "grid"?} (or {"city"} in a city round)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    bot, error = _authenticate(request)
    if error is not None:
        return error
    data, error = _read_json(request)
    if error is not None:
        return error
    try:
        guess, created = services.bot_guess(bot=bot, round_id=round_id, data=data)
    except services.BotError as exc:
        return json_error(exc.message, status=exc.status)
    body = {
        "round": round_id,
        "created": created,
        "timed_out": guess.timed_out,
        "lat": guess.lat,
        "lon": guess.lon,
    }
    if guess.city:
        body["city"] = guess.city
    return JsonResponse(body, status=201 if created else 200)


@staff_member_required
@require_http_methods(["GET", "POST"])
def staff_bots(request):
    """The bots, and a form for a new one; its token is shown on the answer page, once."""
    error, token, created = None, None, None
    if request.method == "POST":
        try:
            created, token = services.bot_create(
                name=(request.POST.get("name") or "").strip(),
                description=request.POST.get("description") or "",
            )
        except (ValueError, services.BotError) as exc:
            error = getattr(exc, "message", None) or str(exc)
    response = render(
        request,
        "bots/staff_bots.html",
        {
            "bots": selectors.bot_list(),
            "error": error,
            "form": request.POST if error else {},
            "created": created,
            "token": token,
        },
        status=400 if error else 200,
    )
    response["Cache-Control"] = "no-store"  # the token must not stay in a cache
    return response


@staff_member_required
@require_POST
def staff_bot_revoke(request, name):
    services.bot_revoke(bot=get_object_or_404(Bot, name=name))
    return redirect("staff-bots")
