"""Account writes: sign-up (the browser's anonymous player becomes the account's), the move of an
anonymous browser's games into the account it logs in to, and display-name changes."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from geogame.game.models import Game, Guess
from players.models import Player
from players.names import check_account_name
from players.sessions import SESSION_KEY
from players.signals import players_merged

USERNAME_MAX = 40
EMAIL_MAX = 254
ERR_USERNAME = "a username has 3 to 40 letters, digits and @ . + - _"
ERR_USERNAME_TAKEN = "that username is taken"
ERR_NAME_TAKEN = "that display name is taken; choose another"
ERR_EMAIL = "give an e-mail address (for password resets), at most 254 characters, with an @"
ERR_PASSWORDS_DIFFER = "the two passwords differ"


class AccountError(ValueError):
    """A sign-up or name change the rules refuse; the message says why."""


def _check_username(raw):
    username = str(raw or "").strip()
    ok = 3 <= len(username) <= USERNAME_MAX and all(c.isalnum() or c in "@.+-_" for c in username)
    if not ok or not username.isascii():
        raise AccountError(ERR_USERNAME)
    return username


def _check_email(raw):
    email = str(raw or "").strip()
    if not email or len(email) > EMAIL_MAX or "@" not in email or any(c.isspace() for c in email):
        raise AccountError(ERR_EMAIL)
    return email


def display_name_check(raw, *, exclude_player=None):
    """The checked name (players.names), AccountError if malformed or another account has it."""
    try:
        name = check_account_name(raw)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    taken = Player.objects.filter(user__isnull=False).annotate(lower=Lower("display_name"))
    if exclude_player is not None:
        taken = taken.exclude(id=exclude_player.id)
    if taken.filter(lower=name.lower()).exists():
        raise AccountError(ERR_NAME_TAKEN)
    return name


def account_create(*, username, email, password, password_again, display_name, session_player=None):
    """A new user and its Player. `session_player`, the browser's anonymous player, becomes the
    account's, so every game played in this browser so far is in the account. Returns the user."""
    User = get_user_model()
    username = _check_username(username)
    email = _check_email(email)
    name = display_name_check(display_name)
    if password != password_again:
        raise AccountError(ERR_PASSWORDS_DIFFER)
    user = User(username=username, email=email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages)) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise AccountError(ERR_USERNAME_TAKEN)
            user.save()
            if (
                session_player is not None
                and session_player.user_id is None
                and session_player.kind == "human"
            ):
                session_player.user = user
                session_player.display_name = name
                session_player.save(update_fields=["user", "display_name"])
            else:
                Player.objects.create(user=user, display_name=name)
    except IntegrityError:  # a concurrent sign-up took the username or the name first
        raise AccountError(
            ERR_NAME_TAKEN if not User.objects.filter(username=username).exists() else ERR_USERNAME_TAKEN
        ) from None
    return user


def display_name_change(*, player, raw):
    name = display_name_check(raw, exclude_player=player)
    try:
        with transaction.atomic():
            Player.objects.filter(id=player.id).update(display_name=name)
    except IntegrityError:
        raise AccountError(ERR_NAME_TAKEN) from None
    player.display_name = name
    return player


def games_move(*, source, target):
    """Move `source`'s own games (not duels' or studies', which seat the player by id) with its
    guesses in them into `target`. Returns how many games moved."""
    with transaction.atomic():
        game_ids = list(
            Game.objects.filter(player=source, duel__isnull=True, participant__isnull=True).values_list(
                "id", flat=True
            )
        )
        Guess.objects.filter(player=source, round__game_id__in=game_ids).update(player=target)
        moved = Game.objects.filter(id__in=game_ids).update(player=target)
        players_merged.send(sender=Player, source=source, target=target)
    return moved


def games_move_on_login(sender, request, user, **kwargs):
    """On log-in (user_logged_in): the games this browser played anonymously join the account."""
    from players.sessions import account_player

    session = getattr(request, "session", None)
    if session is None:
        return
    anon_id = session.get(SESSION_KEY)
    target = account_player(user)
    if anon_id is not None and anon_id != target.id:
        source = Player.objects.filter(id=anon_id, kind=Player.HUMAN, user__isnull=True).first()
        if source is not None:
            games_move(source=source, target=target)
    session[SESSION_KEY] = target.id
