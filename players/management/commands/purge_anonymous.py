"""manage.py purge_anonymous [--days N] [--privacy-days N] [--dry-run]: the retention purge now
(players/retention.py says what is abandoned); the workers run it every GEOGAME_PURGE_EVERY_H."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from players import retention


class Command(BaseCommand):
    help = "Delete abandoned anonymous players, expired sessions and kept privacy checks past retention."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=settings.GEOGAME_ANONYMOUS_RETENTION_DAYS,
            help="a player idle this many days is abandoned (default GEOGAME_ANONYMOUS_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--privacy-days",
            type=int,
            default=settings.GEOGAME_PRIVACY_RETENTION_DAYS,
            help="kept privacy checks older than this are deleted (default GEOGAME_PRIVACY_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count the abandoned players, delete nothing"
        )

    def handle(self, *args, days, privacy_days, dry_run, **options):
        if days < 1 or privacy_days < 1:
            raise CommandError("--days and --privacy-days must be at least 1")
        if dry_run:
            n = retention.abandoned_players(days=days).count()
            self.stdout.write(f"{n} abandoned anonymous players (idle over {days} days); nothing deleted")
            return
        counts = retention.purge_all(days=days, privacy_days=privacy_days)
        self.stdout.write(
            f"deleted {counts['players']} abandoned anonymous players (idle over {days} days), "
            f"{counts['privacy_checks']} kept privacy checks (older than {privacy_days} days) "
            "and the expired sessions"
        )
