"""Retention: abandoned anonymous players, expired sessions and old kept privacy checks are deleted
on a schedule (`manage.py purge_anonymous`; every GEOGAME_PURGE_EVERY_H in workers, or in the web
process without Redis: `schedule_purge`).

An anonymous player is *abandoned* when all of these hold (`days` = GEOGAME_ANONYMOUS_RETENTION_DAYS):
  1. a human (machines are never purged), created more than `days` ago;
  2. not a study participant (a study's data is the study's, kept and exported by staff);
  3. nothing done in the last `days`: no game created, no guess made;
  4. no finished game (all rounds guessed or timed out) and no finished duel: scores are kept;
  5. not seated as a guest in anyone's duel, and not hosting a running one (a duel loses no seat);
  6. no unexpired session holds its id (the browser could still come back to it).
Players are anonymous: no account or staff user is linked to one, so none is touched here.
Deleting a player deletes its unfinished games, their rounds and guesses, and its waiting duels.
"""

import logging
from datetime import timedelta
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import Player
from .sessions import SESSION_KEY

log = logging.getLogger(__name__)

BATCH = 500
DB_SESSION_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")
FIRST_PURGE_AFTER_S = 600  # after a process starts: not in the middle of its start-up
PURGE_LOCK_KEY = "retention:purge"
_scheduled = False  # schedule_purge: once per process


def live_session_player_ids(now):
    """Player ids held by unexpired sessions; None when the session engine cannot be listed."""
    if settings.SESSION_ENGINE not in DB_SESSION_ENGINES:
        return None
    from django.contrib.sessions.models import Session

    ids = set()
    for session in Session.objects.filter(expire_date__gt=now).iterator(chunk_size=BATCH):
        player_id = session.get_decoded().get(SESSION_KEY)
        if player_id is not None:
            ids.add(player_id)
    return ids


def abandoned_players(*, days, now=None):
    """The abandoned anonymous players (see the module's docstring) as a queryset of ids."""
    # By app label: the games and duels are built on players (they import players, not the reverse).
    Duel, DuelSeat, Game = (apps.get_model(label) for label in ("duels.Duel", "duels.DuelSeat", "game.Game"))

    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    live = live_session_player_ids(now)
    if live is None:  # sessions cannot be listed: wait until any session it had has expired
        cutoff = min(cutoff, now - timedelta(seconds=settings.SESSION_COOKIE_AGE))
    finished_games = (
        Game.objects.annotate(
            own_guesses=Count("rounds__guesses", filter=Q(rounds__guesses__player_id=F("player_id")))
        )
        .filter(own_guesses__gte=F("rounds_total"))
        .values("player_id")
    )
    guests = DuelSeat.objects.filter(player__isnull=False).exclude(duel__game__player_id=F("player_id"))
    players = (
        Player.objects.filter(
            kind=Player.HUMAN, user__isnull=True, created_at__lt=cutoff, participant__isnull=True
        )
        .exclude(games__created_at__gte=cutoff)
        .exclude(guesses__created_at__gte=cutoff)
        .exclude(id__in=finished_games)
        .exclude(games__duel__status__in=[Duel.ACTIVE, Duel.FINISHED])
        .exclude(id__in=guests.values("player_id"))
    )
    if live:
        players = players.exclude(id__in=live)
    return players.values_list("id", flat=True).distinct()


def anonymous_players_purge(*, days, now=None):
    """Delete the abandoned anonymous players (with their unfinished games); how many were deleted."""
    ids = list(abandoned_players(days=days, now=now))
    for start in range(0, len(ids), BATCH):
        Player.objects.filter(id__in=ids[start : start + BATCH]).delete()
    return len(ids)


def expired_sessions_clear():
    """What `manage.py clearsessions` does: drop expired sessions (engines that store them)."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:  # e.g. signed cookies: nothing stored
        pass


_PURGES = {}  # what -> (purge, days_setting): other apps' data kept for a while (PrivacyConfig.ready)


def register_purge(what, purge, days_setting):
    """Have the scheduled purge call `purge(days=, now=)` -> how many deleted, with `days` from the
    setting named `days_setting` (e.g. kept privacy checks after GEOGAME_PRIVACY_RETENTION_DAYS)."""
    _PURGES[what] = (purge, days_setting)


def purge_all(*, days=None, now=None, **kept_days):
    """The scheduled purge: expired sessions first (so their players count as gone), then abandoned
    players, then what other apps registered (kept privacy checks) past its retention; `kept_days`
    overrides a registered purge's setting by its name (privacy_checks=30). {what: how many deleted}."""
    days = settings.GEOGAME_ANONYMOUS_RETENTION_DAYS if days is None else days
    expired_sessions_clear()
    counts = {"players": anonymous_players_purge(days=days, now=now)}
    for what, (purge, days_setting) in _PURGES.items():
        counts[what] = purge(days=kept_days.get(what, getattr(settings, days_setting)), now=now)
    return counts


def purge_if_due():
    """One purge per interval across processes: the first to take the cache's lock (Redis when
    REDIS_URL is set) runs it; the others skip. Errors are logged; the next interval tries again."""
    interval_s = settings.GEOGAME_PURGE_EVERY_H * 3600
    try:
        if not cache.add(PURGE_LOCK_KEY, timezone.now().isoformat(), timeout=max(1, int(interval_s * 0.9))):
            return None
    except Exception:
        log.warning("retention purge: the cache failed; purging without the lock", exc_info=True)
    try:
        counts = purge_all()
    except Exception:
        log.exception("retention purge failed; trying again in %s h", settings.GEOGAME_PURGE_EVERY_H)
        return None
    log.info("retention purge: %s", ", ".join(f"{n} {what}" for what, n in counts.items()))
    return counts


def schedule_purge(first_after_s=FIRST_PURGE_AFTER_S):
    """Run `purge_if_due` in this process every GEOGAME_PURGE_EVERY_H (0: never) on the background
    timer thread (geogame.common.background.call_later); the first after `first_after_s`."""
    global _scheduled
    from geogame.common import background

    interval_s = settings.GEOGAME_PURGE_EVERY_H * 3600
    if interval_s <= 0 or _scheduled:
        return None
    _scheduled = True

    def run():
        try:
            purge_if_due()
        finally:
            background.call_later(interval_s, run)

    return background.call_later(first_after_s, run)
