from django.core.management.base import BaseCommand, CommandError

from geogame.game.services import GameError
from geogame.studies.models import Study
from geogame.studies.services import study_set_status


class Command(BaseCommand):
    help = "Pause, close early or reopen a study: newcomers wait, are refused, or may join again."

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's slug")
        parser.add_argument("status", choices=[s for s, _ in Study.STATUS_CHOICES])

    def handle(self, **o):
        study = Study.objects.filter(slug=o["study"]).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no study {o['study']!r}; studies: {known}")
        try:
            study_set_status(study, o["status"])
        except GameError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"study {study.slug}: {study.status}")
