"""The human player behind a request: one anonymous Player per browser session."""

from geogame.common.text_input import clean_name

from .models import Player

SESSION_KEY = "geogame_player_id"
# The study participants (their public ids) this browser answers for: see geogame.studies.views.
STUDY_SESSION_KEY = "geogame_study_participants"
DISPLAY_NAME_MAX = 40


def clean_display_name(raw):
    """The name a player typed, on one line, or "Player"; ValueError if too long or unprintable."""
    return clean_name(raw, what="display name", max_chars=DISPLAY_NAME_MAX) or "Player"


def player_for_request(request, *, create=False, display_name=None):
    """Return the session's Player, creating it when asked. None if there is none."""
    player_id = request.session.get(SESSION_KEY)
    player = None
    if player_id is not None:
        player = Player.objects.filter(id=player_id, kind=Player.HUMAN).first()
    if player is None and create:
        player = Player.objects.create(display_name=display_name or "Player")
        request.session[SESSION_KEY] = player.id
    elif player is not None and display_name and player.display_name != display_name:
        player.display_name = display_name
        player.save(update_fields=["display_name"])
    return player


def study_participant_ids(request):
    return list(request.session.get(STUDY_SESSION_KEY, []))
