"""The human player behind a request: one anonymous Player per browser session."""

from django.db import IntegrityError, transaction

from geogame.common.text_input import clean_name

from .models import Player

SESSION_KEY = "geogame_player_id"
# The study participants (their public ids) this browser answers for: see geogame.studies.views.
STUDY_SESSION_KEY = "geogame_study_participants"
DISPLAY_NAME_MAX = 40


def clean_display_name(raw):
    """The name a player typed, on one line, or "Player"; ValueError if too long or unprintable."""
    return clean_name(raw, what="display name", max_chars=DISPLAY_NAME_MAX) or "Player"


def account_player(user):
    """The Player of a logged-in `user`, made on first use (an account made by `createsuperuser`
    has none yet) under the account's username."""
    player = Player.objects.filter(user=user).first()
    if player is None:
        username = user.get_username()
        for name in (username[:DISPLAY_NAME_MAX], f"{username[:28]} #{user.id}"):
            try:
                with transaction.atomic():
                    player, _ = Player.objects.get_or_create(user=user, defaults={"display_name": name})
                return player
            except IntegrityError:  # another account chose that name
                continue
        player = Player.objects.get(user=user)
    return player


# A session's own player: a person without an account (a logged-in user's is the account's).
_ANONYMOUS = {"kind": Player.HUMAN, "user__isnull": True}


def player_lookup(request, relation="player"):
    """Filter arguments selecting the rows whose `relation` is the request's Player (the account's
    when logged in, else the session's), so a view reads its row and the player in one query; None
    when the request has no player. It reads the same player as `player_for_request`, which a
    caller uses to create one or when it needs no other row."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return {f"{relation}__user_id": user.id}
    player_id = request.session.get(SESSION_KEY)
    if player_id is None:
        return None
    return {f"{relation}_id": player_id, **{f"{relation}__{k}": v for k, v in _ANONYMOUS.items()}}


def player_remember(request, player):
    """Keep a logged-in request's player in its session: the duel socket reads it from there."""
    if request.session.get(SESSION_KEY) != player.id:
        request.session[SESSION_KEY] = player.id


def player_for_request(request, *, create=False, display_name=None):
    """Return the request's Player: the account's when logged in (its name is the one chosen for
    the account, so `display_name` is ignored), else the session's, created when asked. None if
    there is none."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        player = account_player(user)
        player_remember(request, player)
        return player
    player_id = request.session.get(SESSION_KEY)
    player = None
    if player_id is not None:
        player = Player.objects.filter(id=player_id, **_ANONYMOUS).first()
    if player is None and create:
        player = Player.objects.create(display_name=display_name or "Player")
        request.session[SESSION_KEY] = player.id
    elif player is not None and display_name and player.display_name != display_name:
        player.display_name = display_name
        player.save(update_fields=["display_name"])
    return player


def study_participant_ids(request):
    return list(request.session.get(STUDY_SESSION_KEY, []))
