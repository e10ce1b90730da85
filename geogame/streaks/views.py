"""Country streak pages and API: parse, call the services, render. (docs/streaks.md)"""

from django.conf import settings
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from geogame.common import ratelimit
from geogame.common.ratelimit import rate_limited, session_or_address
from geogame.game import round_images
from geogame.game.views import _round_image_response, _round_view_bytes, json_error, parse_json_object
from geogame.maps import countries
from geogame.maps.models import Map, View
from players.sessions import clean_display_name, player_for_request

from . import selectors, services
from .models import Streak, StreakRound


def _own_streak(request, streak_id):
    player = player_for_request(request)
    if player is None:
        raise Http404("no such streak")
    streaks = Streak.objects.select_related("map", "player")
    return get_object_or_404(streaks, public_id=streak_id, player=player)


@require_http_methods(["GET", "POST"])
def streaks_home(request):
    error, status, retry_after = None, 200, None
    if request.method == "POST":
        streak, error, status, retry_after = ratelimit.create_from_form(
            "game", "streaks", request, lambda: _create_from_form(request), (ValueError, services.StreakError)
        )
        if streak is not None:
            return redirect("streak-play", streak_id=streak.public_id)
    maps = selectors.streak_maps(Map.objects.order_by("name"))
    response = render(
        request,
        "streaks/home.html",
        {"maps": maps, "player": player_for_request(request), "error": error},
        status=status,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _create_from_form(request):
    m = Map.objects.filter(slug=request.POST.get("map", "")).first()
    if m is None:
        raise ValueError("choose one of the maps listed")
    display_name = clean_display_name(request.POST.get("display_name"))
    player = player_for_request(request, create=True, display_name=display_name)
    return services.streak_create(player=player, m=m)


@require_GET
def streak_play(request, streak_id):
    streak = _own_streak(request, streak_id)
    names = [[code, name] for code, name in countries.country_names().items()]
    return render(request, "streaks/play.html", {"streak": streak, "countries": names})


@require_GET
def api_streak(request, streak_id):
    streak = _own_streak(request, streak_id)
    current = services.round_current(streak=streak)
    streak.refresh_from_db()
    return JsonResponse(selectors.streak_state(streak, current))


@rate_limited("guess", key=session_or_address)
def api_streak_guess(request, streak_id, index):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    streak = _own_streak(request, streak_id)
    try:
        data = parse_json_object(request)
        code = services.answer_code(country=data.get("country"), lat=data.get("lat"), lon=data.get("lon"))
        services.guess_submit(streak=streak, index=index, code=code)
    except ValueError as exc:
        return json_error(str(exc))
    except services.StreakError as exc:
        return json_error(exc.message, status=exc.status)
    streak.refresh_from_db()
    # The next round starts when the player asks for it (api_streak), so its clock starts then.
    return JsonResponse(selectors.streak_state(streak, None), status=201)


def _serve(request, image_key, index, kind):
    """The round's own rendering of a view, as the game serves its rounds' (geogame.game.round_images):
    only to the streak's player."""
    rnd = get_object_or_404(StreakRound.objects.select_related("streak"), image_key=image_key)
    if not services.streak_has_player(streak_round=rnd, player=player_for_request(request)):
        raise Http404("no such image")
    view = get_object_or_404(View, location_id=rnd.location_id, index=index)
    etag = round_images.etag(settings.SECRET_KEY, image_key, index, kind)
    return _round_image_response(request, etag, lambda: _round_view_bytes(image_key, view, kind))


@require_GET
def streak_image(request, image_key, index):
    return _serve(request, image_key, index, round_images.DISPLAY)


@require_GET
def streak_thumb(request, image_key, index):
    return _serve(request, image_key, index, round_images.THUMB)


@require_GET
def streak_board(request, slug=None):
    maps = selectors.streak_maps(Map.objects.order_by("name"))
    m = next((x for x in maps if x.slug == slug), None) if slug else (maps[0] if maps else None)
    if slug and m is None:
        return render(request, "streaks/board.html", {"error": "no such map", "maps": maps}, status=404)
    context = {"maps": maps, "map": m, "viewer": player_for_request(request)}
    if m is not None:
        context["humans"] = selectors.board(m, is_machine=False)
        context["machines"] = selectors.board(m, is_machine=True)
    return render(request, "streaks/board.html", context)
