"""Duel pages: the lobby, the duel itself and the invite link. The duel is played over
its WebSocket (geogame.duels.consumers); these views only set it up."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from geogame.common import ratelimit
from geogame.game import selectors
from geogame.maps.models import Map
from players.sessions import clean_display_name, player_for_request

from . import protocol as duel_protocol
from . import rules as duel_rules
from . import selectors as duel_selectors
from . import services as duel_services
from .models import Duel, DuelSeat

# What duel.js must agree on with the server, given to it in the page (json_script).
DUEL_PAGE_CONFIG = {
    "start_health": duel_rules.START_HEALTH,
    "events": duel_protocol.EVENTS,
    "replies": duel_protocol.REPLIES,
    "requests": tuple(duel_protocol.PARSERS),
    "status": {"waiting": Duel.WAITING, "active": Duel.ACTIVE, "finished": Duel.FINISHED},
    "reasons": {
        "knockout": duel_rules.KNOCKOUT,
        "last_round": duel_rules.LAST_ROUND,
        "forfeit": duel_rules.FORFEIT,
    },
}


@require_http_methods(["GET", "POST"])
def duel_lobby(request):
    error, status, retry_after = None, 200, None
    if request.method == "POST":
        duel, error, status, retry_after = ratelimit.create_from_form(
            "duel",
            "duels",
            request,
            lambda: _create_duel_from_form(request),
            (ValueError, duel_services.DuelError),
        )
        if duel is not None:
            return redirect("duel", duel_id=duel.public_id)
    maps = selectors.maps_for_home(rounds=duel_services.duel_min_rounds())
    response = render(
        request,
        "duels/duel_lobby.html",
        {
            "maps": maps,
            "opponents": selectors.opponents_for_home(maps),
            "player": player_for_request(request),
            "error": error,
            "form": request.POST if error else {},
            "human": duel_services.HUMAN,
            "queue_machine_s": settings.GEOGAME_RANKED_QUEUE_MACHINE_S,
        },
        status=status,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _create_duel_from_form(request):
    display_name = clean_display_name(request.POST.get("display_name"))
    m = Map.objects.filter(slug=request.POST.get("map", "")).first()
    if m is None:
        raise ValueError("choose one of the maps listed")
    opponent = (request.POST.get("opponent") or "").strip()
    third_seat = (request.POST.get("third_seat") or "").strip() if opponent == duel_services.HUMAN else ""
    ranked = request.POST.get("ranked") == "on"
    if ranked and not request.user.is_authenticated:
        raise duel_services.DuelError(duel_services.ERR_RANKED_ACCOUNT, status=403)
    player = player_for_request(request, create=True, display_name=display_name)
    return duel_services.duel_create(
        player=player, map=m, opponent=opponent, third_seat=third_seat, ranked=ranked
    )


@require_GET
def duel_page(request, duel_id):
    duel, seat = duel_selectors.seat_for_session(duel_id, request.session)
    if seat is None:
        raise Http404(duel_services.ERR_NOT_FOUND)  # never say whether someone else's duel exists
    invite_url = None
    if seat.seat == 0:
        token = duel.seats.filter(seat=1).values_list("invite_token", flat=True).first()
        if token:
            invite_url = request.build_absolute_uri(reverse("duel-join", args=[token]))
    return render(
        request,
        "duels/duel.html",
        {
            "duel": duel,
            "seat": seat,
            "invite_url": invite_url,
            "ws_path": f"/ws/duel/{duel.public_id}/",
            "duel_config": DUEL_PAGE_CONFIG,
        },
    )


@require_http_methods(["GET", "POST"])
def duel_join(request, token):
    seat = DuelSeat.objects.filter(invite_token=token).select_related("duel", "duel__game__player").first()
    if seat is None:
        raise Http404(duel_services.ERR_BAD_INVITE)
    player = player_for_request(request)
    if player is not None and seat.player_id == player.id:
        return redirect("duel", duel_id=seat.duel.public_id)
    error = None
    if request.method == "POST":
        try:
            player = player_for_request(
                request, create=True, display_name=clean_display_name(request.POST.get("display_name"))
            )
            duel = duel_services.duel_join(token=token, player=player)
            return redirect("duel", duel_id=duel.public_id)
        except (ValueError, duel_services.DuelError) as exc:
            error = getattr(exc, "message", None) or str(exc)
    elif seat.player_id is not None:
        error = duel_services.ERR_BAD_INVITE
    return render(
        request,
        "duels/duel_join.html",
        {"seat": seat, "host": seat.duel.game.player.display_name, "player": player, "error": error},
        status=400 if error else 200,
    )
