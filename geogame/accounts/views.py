"""Sign-up, log-in, log-out, password reset, /me/ and the replay: parse, call, render."""

from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods

from geogame.common import ratelimit
from geogame.common.ratelimit import client_address, rate_limited
from geogame.ranked import selectors as ranked_selectors
from players.names import ACCOUNT_NAME_MAX
from players.sessions import player_for_request

from . import selectors, services


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("me")
    error, status, retry_after = None, 200, None
    if request.method == "POST":
        user, error, status, retry_after = ratelimit.create_from_form(
            "signup", "accounts", request, lambda: _signup_from_form(request), (services.AccountError,)
        )
        if user is not None:
            auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("me")
    form = {k: v for k, v in request.POST.items() if "password" not in k} if error else {}
    response = render(
        request,
        "accounts/signup.html",
        {"error": error, "form": form, "name_max": ACCOUNT_NAME_MAX},
        status=status,
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _signup_from_form(request):
    return services.account_create(
        username=request.POST.get("username"),
        email=request.POST.get("email"),
        password=request.POST.get("password", ""),
        password_again=request.POST.get("password_again", ""),
        display_name=request.POST.get("display_name"),
        session_player=player_for_request(request),
    )


@method_decorator(rate_limited("login", key=client_address), name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's log-in, counted per address (a password guesser spread over usernames) on top of
    django-axes' lockout per username and address (players/auth.py)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("home")


@method_decorator(rate_limited("password_reset", key=client_address), name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@require_http_methods(["GET", "POST"])
def me(request):
    """The player's history: an account's, or this browser's anonymous games."""
    player = player_for_request(request)
    error, status = None, 200
    if request.method == "POST":
        if player is None or player.user_id is None:
            error, status = "log in to choose a display name", 403
        else:
            try:
                services.display_name_change(player=player, raw=request.POST.get("display_name"))
                return redirect("me")
            except services.AccountError as exc:
                error, status = str(exc), 400
    try:
        page = max(1, min(10_000, int(request.GET.get("page", "1"))))
    except ValueError:
        page = 1
    games, has_next = selectors.history_page(player, page) if player is not None else ([], False)
    return render(
        request,
        "accounts/me.html",
        {
            "player": player,
            "games": games,
            "ratings": ranked_selectors.player_ratings(player),
            "page": page,
            "has_next": has_next,
            "error": error,
            "name_max": ACCOUNT_NAME_MAX,
        },
        status=status,
    )


@require_GET
def replay(request, game_id):
    """One of the player's own games, round by round; anyone else's is 404."""
    player = player_for_request(request)
    if player is None:
        raise Http404("no such game in your history")
    game = get_object_or_404(
        selectors.own_games(player).select_related("map", "opponent", "player"), public_id=game_id
    )
    rounds = selectors.replay_rounds(game)
    return render(
        request,
        "accounts/replay.html",
        {
            "game": game,
            "rounds": rounds,
            "total": sum(r["points"] or 0 for r in rounds),
            "replay_data": [
                {"number": r["number"], "pin": r["pin"], "answer": r["answer"], "machine": r["machine"]}
                for r in rounds
            ],
        },
    )
