"""Challenge links and the daily challenge: parse, call a service or selector, render."""

import datetime
import uuid

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from geogame.common import ratelimit
from geogame.common.ratelimit import rate_limited, session_or_address
from geogame.game.models import Game
from geogame.maps.models import Map
from players.sessions import clean_display_name, player_for_request

from . import selectors, services


def _error_page(request, message, status, **context):
    return render(request, "challenges/error.html", {"message": message, **context}, status=status)


def _challenge_or_404(request, challenge_id):
    try:
        public_id = uuid.UUID(str(challenge_id))
    except ValueError:
        return None
    return selectors.challenge_by_id(public_id)


@require_POST
def challenge_from_game(request, game_id):
    """ "Challenge a friend" on a finished game's summary: the challenge's page, made if need be."""
    player = player_for_request(request)
    games = Game.objects.filter(duel__isnull=True, participant__isnull=True).select_related("map")
    game = get_object_or_404(games, public_id=game_id, player=player) if player else None
    if game is None:
        raise Http404("no such game")
    attempt = getattr(game, "daily_attempt", None)
    if attempt is not None:
        return redirect("daily-board", slug=game.map.slug, day=attempt.daily.day.isoformat())
    if getattr(game, "challenge_entry", None) is None and getattr(game, "challenge_made", None) is None:
        decision = ratelimit.creation_hit("challenge", request)
        if not decision.allowed:
            response = _error_page(request, ratelimit.too_many_created(decision, "challenges"), 429)
            response["Retry-After"] = str(decision.retry_after_s)
            return response
    try:
        challenge, _ = services.challenge_from_game(game=game)
    except services.ChallengeError as exc:
        return _error_page(request, exc.message, exc.status)
    return redirect("challenge", challenge_id=challenge.public_id)


@require_GET
def challenge_page(request, challenge_id):
    challenge = _challenge_or_404(request, challenge_id)
    if challenge is None:
        return _error_page(request, services.ERR_NO_CHALLENGE, 404)
    player = player_for_request(request)
    entry = selectors.entry_of(challenge, player)
    finished = entry is not None and selectors.game_finished(entry.game)
    entries = list(selectors.challenge_entries(challenge))
    pins = (
        selectors.pins_by_round([e.game_id for e in entries], len(challenge.location_order))
        if finished
        else None
    )
    return render(
        request,
        "challenges/challenge.html",
        {
            "challenge": challenge,
            "rows": selectors.ranking(entries),
            "entry": entry,
            "finished": finished,
            "pins": pins,
            "viewer": player,
            "share_url": request.build_absolute_uri(),
        },
    )


@require_POST
@rate_limited("guess", key=session_or_address)
def challenge_play(request, challenge_id):
    challenge = _challenge_or_404(request, challenge_id)
    if challenge is None:
        return _error_page(request, services.ERR_NO_CHALLENGE, 404)
    try:
        name = clean_display_name(request.POST.get("display_name"))
    except ValueError as exc:
        return _error_page(request, str(exc), 400)
    player = player_for_request(request, create=True, display_name=name)
    try:
        game = services.challenge_join(challenge=challenge, player=player)
    except services.ChallengeError as exc:
        return _error_page(request, exc.message, exc.status)
    return redirect("play", game_id=game.public_id)


@require_GET
def daily_home(request):
    """Today's daily on every map: play it, or see its leaderboard once played."""
    player = player_for_request(request)
    owner = services.attempt_owner(request, create=False)
    today = selectors.utc_day()
    items = []
    for m in Map.objects.order_by("name"):
        daily = services.daily_draw(m=m)  # drawn here if nothing drew places on the map yet today
        attempt = selectors.daily_attempt_of(daily, player, owner) if daily else None
        items.append(
            {
                "map": m,
                "daily": daily,
                "too_small": services.daily_too_small(m) if daily is None else "",
                "attempt": attempt,
                "finished": attempt is not None and selectors.game_finished(attempt.game),
            }
        )
    return render(request, "challenges/daily_home.html", {"items": items, "today": today, "viewer": player})


@require_POST
@rate_limited("daily", key=session_or_address)
def daily_play(request, slug):
    m = Map.objects.filter(slug=slug).first()
    if m is None:
        return _error_page(request, "no such map", 404)
    try:
        name = clean_display_name(request.POST.get("display_name"))
    except ValueError as exc:
        return _error_page(request, str(exc), 400)
    try:
        daily = services.daily_get_or_create(m=m)
        player = player_for_request(request, create=True, display_name=name)
        attempt = services.daily_attempt_start(
            daily=daily, player=player, owner=services.attempt_owner(request)
        )
    except services.ChallengeError as exc:
        return _error_page(request, exc.message, exc.status, daily_map=m)
    return redirect("play", game_id=attempt.game.public_id)


def _parse_day(day):
    try:
        return datetime.date.fromisoformat(day)
    except ValueError:
        return None


@require_GET
def daily_board(request, slug, day):
    """A daily's leaderboard: humans and machines apart. Today's opens after your attempt."""
    parsed = _parse_day(day)
    daily = selectors.daily_by(slug, parsed) if parsed else None
    if daily is None:
        return _error_page(request, "no daily challenge on that map that day", 404)
    player = player_for_request(request)
    owner = services.attempt_owner(request, create=False)
    refused = services.daily_leaderboard_check(daily=daily, player=player, owner=owner)
    if refused is not None:
        return _error_page(request, refused.message, refused.status, daily_map=daily.map)
    attempts = selectors.daily_attempts(daily)
    attempt = selectors.daily_attempt_of(daily, player, owner)
    return render(
        request,
        "challenges/daily_board.html",
        {
            "daily": daily,
            "humans": selectors.ranking(attempts.filter(is_machine=False)),
            "machines": selectors.ranking(attempts.filter(is_machine=True)),
            "own_game_id": attempt.game_id if attempt else None,
            "viewer": player,
            "is_today": daily.day == selectors.utc_day(),
        },
    )


@require_GET
def daily_archive(request):
    return render(
        request, "challenges/daily_archive.html", {"dailies": selectors.dailies_archive(selectors.utc_day())}
    )
