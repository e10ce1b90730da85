"""Retention (players/retention.py, manage.py purge_anonymous): abandoned anonymous players go with
their unfinished games; players with scores, study participants, live sessions, recent activity,
duel guests and machines stay; expired sessions and kept privacy checks past retention go too."""

import secrets
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from geogame.duels.models import Duel, DuelSeat
from geogame.game.models import Game, Guess, Round
from geogame.privacy.models import PrivacyCheck, PrivacyCheckPhoto
from geogame.studies.models import Participant, Study
from players import retention
from players.models import Player
from players.sessions import SESSION_KEY

pytestmark = pytest.mark.django_db(transaction=True)  # the photo files go once the delete commits

DAYS = 30
LONG_AGO = timedelta(days=DAYS + 10)


def aged(obj, age):
    type(obj).objects.filter(pk=obj.pk).update(created_at=timezone.now() - age)
    return obj


def player(name, age=LONG_AGO, kind=Player.HUMAN):
    machine_name = name if kind == Player.MACHINE else ""
    return aged(Player.objects.create(display_name=name, kind=kind, machine_name=machine_name), age)


def game(owner, m, *, guessed=0, rounds=2, age=LONG_AGO, guess_age=LONG_AGO):
    g = aged(Game.objects.create(player=owner, map=m, rounds_total=rounds, seed=1), age)
    for index, location in enumerate(m.locations.all()[:rounds]):
        key, now = secrets.token_urlsafe(16), timezone.now()
        rnd = Round.objects.create(game=g, index=index, location=location, image_key=key, started_at=now)
        if index < guessed:
            guess = Guess.objects.create(round=rnd, player=owner, lat=1, lon=1, points=10, time_taken_s=3)
            aged(guess, guess_age)
    return g


def session_for(p, expires_in=timedelta(days=7)):
    s = SessionStore()
    s[SESSION_KEY] = p.id
    s.set_expiry(expires_in)
    s.save()
    return s.session_key


def test_only_abandoned_anonymous_players_are_purged_with_their_unfinished_games(fixture_map):
    gone = {
        "idle, nothing played": player("idle"),
        "an old unfinished game": player("quitter"),
        "a waiting duel nobody joined": player("lonely host"),
        "a session that expired": player("expired"),
    }
    game(gone["an old unfinished game"], fixture_map, guessed=1)
    Duel.objects.create(game=game(gone["a waiting duel nobody joined"], fixture_map), status=Duel.WAITING)
    Session.objects.filter(session_key=session_for(gone["a session that expired"])).update(
        expire_date=timezone.now() - timedelta(days=1)
    )

    kept = {
        "a finished game": player("finisher"),
        "a study participant": player("participant"),
        "a live session": player("regular"),
        "new": player("newcomer", age=timedelta(days=1)),
        "a recent guess": player("returning"),
        "a recent game": player("back again"),
        "a guest in a duel": player("guest"),
        "a machine": player("machine-x", kind=Player.MACHINE),
    }
    game(kept["a finished game"], fixture_map, guessed=2)
    study = Study.objects.create(
        map=fixture_map, name="s", slug="s", consent_text="ok", seed=1, link_token=secrets.token_urlsafe(16)
    )
    participant = kept["a study participant"]
    Participant.objects.create(study=study, player=participant, game=game(participant, fixture_map))
    session_for(kept["a live session"])
    game(kept["a recent guess"], fixture_map, guessed=1, guess_age=timedelta(days=2))
    game(kept["a recent game"], fixture_map, age=timedelta(days=2))
    host = player("host", age=timedelta(days=1))
    duel = Duel.objects.create(game=game(host, fixture_map), status=Duel.WAITING)
    DuelSeat.objects.create(duel=duel, seat=0, player=host)
    DuelSeat.objects.create(duel=duel, seat=1, player=kept["a guest in a duel"])
    assert Game.objects.filter(player__in=gone.values()).count() == 2

    assert set(retention.abandoned_players(days=DAYS)) == {p.id for p in gone.values()}
    counts = retention.purge_all(days=DAYS, privacy_checks=DAYS)
    assert counts["players"] == len(gone)

    assert not Player.objects.filter(id__in=[p.id for p in gone.values()]).exists()
    assert not Game.objects.filter(player_id__in=[p.id for p in gone.values()]).exists()
    for why, p in kept.items():
        assert Player.objects.filter(id=p.id).exists(), f"a player with {why} was purged"
    assert Participant.objects.count() == 1 and DuelSeat.objects.filter(duel=duel).count() == 2
    assert not Session.objects.filter(expire_date__lt=timezone.now()).exists()  # clearsessions
    assert retention.purge_all(days=DAYS, privacy_checks=DAYS)["players"] == 0  # nothing left to do


def kept_check(settings, age):
    check = aged(PrivacyCheck.objects.create(caption="at the beach"), age)
    photo = PrivacyCheckPhoto(privacy_check=check, index=0, sha256="0" * 64)
    photo.image.save(f"{check.id}-0.jpg", ContentFile(b"jpeg bytes"), save=True)
    return check, settings.MEDIA_ROOT / photo.image.name


def test_kept_privacy_checks_past_retention_are_deleted_with_their_files(settings):
    old, old_file = kept_check(settings, timedelta(days=DAYS + 1))
    recent, recent_file = kept_check(settings, timedelta(days=DAYS - 1))
    assert old_file.is_file() and recent_file.is_file()
    assert retention.purge_all(days=DAYS, privacy_checks=DAYS)["privacy_checks"] == 1
    assert list(PrivacyCheck.objects.all()) == [recent]
    assert not old_file.exists() and recent_file.is_file()
    assert not PrivacyCheckPhoto.objects.filter(privacy_check_id=old.id).exists()


def test_staff_list_and_delete_kept_checks_in_the_admin(settings, client, django_user_model):
    check, path = kept_check(settings, timedelta(days=1))
    admin = django_user_model.objects.create_superuser("admin", password="pw-admin-correct-1")
    client.force_login(admin)
    listing = client.get("/admin/privacy/privacycheck/")
    assert listing.status_code == 200 and "at the beach" in listing.content.decode()
    deleted = client.post(f"/admin/privacy/privacycheck/{check.id}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not PrivacyCheck.objects.exists() and not path.exists()
    client.logout()
    assert client.get("/admin/privacy/privacycheck/").status_code == 302  # anonymous: to the log-in


def test_the_command_purges_and_says_what_it_deleted(fixture_map):
    player("idle")
    player("idle too")
    out = StringIO()
    call_command("purge_anonymous", "--days", str(DAYS), "--dry-run", stdout=out)
    assert "2 abandoned anonymous players" in out.getvalue() and Player.objects.count() == 2
    out = StringIO()
    call_command("purge_anonymous", "--days", str(DAYS), stdout=out)
    said = out.getvalue()
    assert "deleted 2 abandoned anonymous players (idle over 30 days), 0 kept privacy checks" in said
    assert not Player.objects.exists()


def test_the_scheduled_purge_runs_once_per_interval_across_processes(settings, fixture_map):
    """The cache lock: a second worker asking in the same interval does nothing."""
    from django.core.cache import cache

    cache.delete(retention.PURGE_LOCK_KEY)
    player("idle")
    assert retention.purge_if_due() == {"players": 1, "privacy_checks": 0}
    player("idle later")
    assert retention.purge_if_due() is None
    assert Player.objects.count() == 1


def test_the_purge_is_scheduled_on_the_background_timer_thread(settings, monkeypatch, fixture_map):
    from django.core.cache import cache

    from tools.stack import wait_until

    monkeypatch.setattr(retention, "_scheduled", False)
    cache.delete(retention.PURGE_LOCK_KEY)
    player("idle")
    timer = retention.schedule_purge(first_after_s=0)
    assert retention.schedule_purge(first_after_s=0) is None  # once per process
    wait_until(lambda: not Player.objects.exists(), timeout_s=30, what="the scheduled purge")
    assert timer.dispatched_at is not None
