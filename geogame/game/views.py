from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from geogame.common import health, json_input, ratelimit
from geogame.common.ratelimit import rate_limited, session_or_address
from geogame.maps.models import Map, View
from geogame.ranked import selectors as ranked_selectors
from players.sessions import clean_display_name, player_for_request, player_lookup, player_remember

from . import hooks, round_images, scoring, selectors, services
from .models import Game, Round

MAX_JSON_BYTES = 10_000


def json_error(message, status=400, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


def parse_json_object(request):
    """The request body as a dict, or raise ValueError with a reason for the client."""
    try:
        body = request.body
    except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE: Django would not read it
        body = None
    if body is None or len(body) > MAX_JSON_BYTES:
        raise ValueError(f"request body is larger than {MAX_JSON_BYTES} bytes")
    try:
        # NaN and Infinity read as numbers, so the guess's check can say "must be finite".
        data = json_input.loads(body or b"null", constants=True)
    except json_input.JsonInputError as exc:
        raise ValueError(f"request body: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def own_game(request, game_id):
    """The session player's game, or 404 (never say whether someone else's exists)."""
    lookup = player_lookup(request)
    if lookup is None:
        raise Http404(services.ERR_NOT_FOUND)
    # A duel's game is played over its socket only (geogame.duels.consumers), never through these views.
    # Nor a study participant's: their answers may be hidden (geogame.studies.views).
    games = Game.objects.select_related("map", "player", "opponent").filter(
        duel__isnull=True, participant__isnull=True
    )
    game = get_object_or_404(games, public_id=game_id, **lookup)
    player_remember(request, game.player)
    return game


@require_http_methods(["GET", "POST"])
def home(request):
    error, status, retry_after = None, 200, None
    if request.method == "POST":
        game, error, status, retry_after = ratelimit.create_from_form(
            "game",
            "games",
            request,
            lambda: _create_game_from_form(request),
            (ValueError, services.GameError),
        )
        if game is not None:
            return redirect("play", game_id=game.public_id)
    player = player_for_request(request)
    maps = selectors.maps_for_home()
    response = render(
        request,
        "game/home.html",
        {
            "maps": maps,
            "opponents": selectors.opponents_for_home(maps),
            "modes": Game.MODE_CHOICES,
            "player": player,
            "error": error,
            "form": request.POST if error else {},
            "time_limits": [
                ("", "No timer"),
                ("30", "30 s"),
                ("60", "1 min"),
                ("120", "2 min"),
                ("300", "5 min"),
            ],
        },
        status=status,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _create_game_from_form(request):
    display_name = clean_display_name(request.POST.get("display_name"))
    slug = request.POST.get("map", "")
    m = Map.objects.filter(slug=slug).first()
    if m is None:
        raise ValueError("choose one of the maps listed")
    mode = request.POST.get("mode") or Game.COORDINATES
    if mode not in dict(Game.MODE_CHOICES):
        raise ValueError("choose a game mode: pin on the map or pick the city")
    raw_limit = (request.POST.get("time_limit") or "").strip()
    try:
        time_limit = int(raw_limit) if raw_limit else None
    except ValueError:
        raise ValueError(services.ERR_BAD_TIME_LIMIT) from None
    opponent = (request.POST.get("opponent") or "").strip()
    player = player_for_request(request, create=True, display_name=display_name)
    return services.game_create(player=player, map=m, mode=mode, time_limit_s=time_limit, opponent=opponent)


@require_safe
def machines_how(request):
    """How the machine players play: their technical descriptions, kept off the game's choices."""
    players = selectors.machine_players_explained()
    ratings = ranked_selectors.machine_ratings()
    for p in players:
        p["ratings"] = ratings.get(p["name"], [])
    return render(request, "game/machines.html", {"players": players, "rated": bool(ratings)})


# What play.js must agree on with the server, given to it in the page (json_script).
PLAY_PAGE_CONFIG = {"max_points": scoring.MAX_POINTS}


@require_GET
def play(request, game_id):
    game = own_game(request, game_id)
    context = {"game": game, "view_note": selectors.view_count_note(game.map)}
    context["play_config"] = PLAY_PAGE_CONFIG
    context["panorama_view"] = selectors.game_offers_panoramas(game)
    return render(request, "game/play.html", context)


@require_GET
def summary(request, game_id):
    game = own_game(request, game_id)
    services.round_expire_latest(game=game)  # a round whose clock ran out counts as finished
    rows = selectors.game_summary_rows(game)
    so_far = selectors.points_so_far(game)
    total, opponent_total = so_far["total"], so_far["opponent_total"]
    return render(
        request,
        "game/summary.html",
        {
            "game": game,
            "rows": rows,
            "total": total,
            "opponent_total": opponent_total,
            "verdict": selectors.game_verdict(game, total, opponent_total, rows),
            "max_total": scoring.MAX_POINTS * game.rounds_total,
        },
    )


@require_GET
def api_game_state(request, game_id):
    game = own_game(request, game_id)
    try:
        current, guess = services.round_shown_with_guess(game=game)
    except services.GameError as exc:  # no free place left for the next round (round_location_id)
        return json_error(exc.message, status=exc.status)
    return JsonResponse(selectors.game_state(game, current, guess))


@require_POST
def api_next_round(request, game_id):
    game = own_game(request, game_id)
    try:
        current = services.round_next(game=game)
    except services.GameError as exc:
        return json_error(exc.message, status=exc.status)
    if current is None:  # the game is over: its last round, with the result
        return JsonResponse(selectors.game_state(game, game.rounds.order_by("-index").first()))
    # round_next's round is one the player has not finished: still open, or just started.
    return JsonResponse(selectors.game_state(game, current, guess=None))


@rate_limited("guess", key=session_or_address)
def api_guess(request, game_id, index):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    game = own_game(request, game_id)
    rnd = Round.objects.filter(game=game, index=index).select_related("location").first()
    if rnd is None:
        return json_error(services.ERR_NO_SUCH_ROUND, status=404)
    rnd.game = game  # with its map and opponent, which the guess and the state read
    try:
        data = parse_json_object(request)
        guess, created = services.guess_submit(
            round=rnd,
            player=game.player,
            lat=data.get("lat"),
            lon=data.get("lon"),
            city=data.get("city"),
            views_seen=data.get("views_seen"),
            view_ms=data.get("view_ms"),
            screen=data.get("screen"),
        )
    except ValueError as exc:
        return json_error(str(exc))
    except services.GameError as exc:
        extra = {"result": selectors.guess_result(exc.result)} if exc.result is not None else {}
        return json_error(exc.message, status=exc.status, **extra)
    state = selectors.game_state(game, rnd, guess)
    state["created"] = created
    return JsonResponse(state, status=201 if created else 200)


def _round_for_request(request, image_key):
    """The round whose image key this is, when the request plays it (or may see it); else 404."""
    rnd = get_object_or_404(Round.objects.select_related("game", "game__map"), image_key=image_key)
    player = player_for_request(request)
    allowed = (player is not None and services.round_has_player(round=rnd, player=player)) or (
        hooks.may_see_round(request, rnd)
    )
    if not allowed:
        raise Http404("no such image")
    return rnd


def _round_image_response(request, etag, make_bytes):
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(make_bytes(), content_type="image/jpeg")
    response["ETag"] = etag
    # Private: the URL is per round and per player; immutable: a round's rendering never changes.
    response["Cache-Control"] = "private, max-age=86400, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _serve_view(request, image_key, index, kind):
    """This round's own rendering of a view (geogame.game.round_images): its bytes, size, ETag and
    URL differ from every other round's, so none of them names the photo."""
    rnd = _round_for_request(request, image_key)
    view = get_object_or_404(View, location_id=rnd.location_id, index=index)
    etag = round_images.etag(settings.SECRET_KEY, image_key, index, kind)
    return _round_image_response(request, etag, lambda: _round_view_bytes(image_key, view, kind))


_rendered = round_images.BytesLRU(settings.GEOGAME_ROUND_IMAGE_CACHE_MB * 1024 * 1024)


def _round_view_bytes(image_key, view, kind):
    """The round's rendering of `view` as `kind` (display or thumbnail), from this process's cache
    or rendered now (both kinds at once: the page asks for both)."""
    key = (image_key, view.index, kind)
    data = _rendered.get(key)
    if data is None:
        with view.image.open("rb") as f:
            source = f.read()
        seed = round_images.round_seed(settings.SECRET_KEY, image_key, view.index)
        rendered = round_images.render(source, seed)
        for k, value in rendered.items():
            _rendered.put((image_key, view.index, k), value)
        data = rendered[kind]
    return data


def _round_panorama_bytes(image_key, location):
    key = (image_key, "panorama")
    data = _rendered.get(key)
    if data is None:
        with location.panorama.open("rb") as f:
            source = f.read()
        seed = round_images.round_seed(settings.SECRET_KEY, image_key, round_images.PANORAMA)
        data = round_images.render_panorama(source, seed)
        _rendered.put(key, data)
    return data


@require_GET
def view_panorama(request, image_key):
    """This round's own rendering of the place's 360-degree panorama, where the round offers one
    (selectors.round_panorama_offered): rotated and re-encoded per round like the views."""
    rnd = _round_for_request(request, image_key)
    if not selectors.round_panorama_offered(rnd):
        raise Http404("no panorama")
    etag = round_images.etag(settings.SECRET_KEY, image_key, 0, round_images.PANORAMA)
    return _round_image_response(request, etag, lambda: _round_panorama_bytes(image_key, rnd.location))


@require_GET
def view_image(request, image_key, index):
    return _serve_view(request, image_key, index, round_images.DISPLAY)


@require_GET
def view_thumb(request, image_key, index):
    return _serve_view(request, image_key, index, round_images.THUMB)


@require_safe
def healthz(request):
    """200 when every check passes, else 503; the JSON names the failing checks (and, for staff or
    the health token, each check's detail)."""
    healthy, report = health.health()
    report = health.visible_report(report, detail=health.may_see_detail(request))
    response = JsonResponse(report, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def livez(request):
    """200 while this process serves requests; it asks nothing of the database, Redis or the workers
    (that is /healthz). A liveness probe, and the bare view bench/load_stack.py measures against."""
    response = HttpResponse("ok\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response
