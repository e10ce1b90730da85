import os
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from geogame.maps.importer import import_map
from geogame.maps.models import Location
from geogame.maps.sample import SampleError, ensure_sample, locate_sample

SAMPLE_MAP_NAME = "Streetscapes sample"


class Command(BaseCommand):
    help = "Migrate, make sure a playable map exists (the demo pack), then serve the game with daphne."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="prepare everything, then exit")

    def handle(self, *args, host, port, no_serve, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not Location.objects.exists():
            self.import_sample()
        if no_serve:
            return
        daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or shutil.which("daphne")
        if daphne is None:
            raise CommandError("daphne is not installed; run `make setup`")
        self.stdout.write(f"geogame: open http://{host}:{port}/  (Ctrl-C stops)")
        sys.stdout.flush()
        os.execv(daphne, [daphne, "-b", host, "-p", str(port), "config.asgi:application"])

    def import_sample(self):
        """Use a local copy when there is one (GEOGAME_SAMPLE_DIR, DATA_DIR/sample, or the
        shared datasets beside the repo), else download the demo pack."""
        dest = Path(settings.DATA_DIR) / "sample"
        manifest = Path(settings.GEOGAME_SAMPLE_MANIFEST)
        # A checkout of the shared datasets next to the repository, if there is one.
        sibling = Path(settings.BASE_DIR).parent / "shared" / "datasets" / "streetscapes-sample"
        candidates = [settings.GEOGAME_SAMPLE_DIR, sibling if sibling.is_dir() else None]
        folder = next(
            (f for f in (locate_sample(c, dest=dest, manifest=manifest) for c in candidates if c) if f), None
        )
        folder = folder or locate_sample(dest=dest, manifest=manifest)
        if folder is None:
            self.stdout.write("No local copy of the demo pack; downloading it (65 photos, ~30 MB)...")
            try:
                ensure_sample(dest, manifest=manifest, progress=None, progress_file=self.stderr._out)
            except SampleError as exc:
                raise CommandError(
                    f"no playable map yet, and the demo pack could not be fetched: {exc}\n"
                    "Or import your own photos: manage.py import_map FOLDER --name NAME (see README)."
                ) from None
            folder = dest
        self.stdout.write(f"Importing the demo pack from {folder} ...")
        report = import_map(
            folder,
            name=SAMPLE_MAP_NAME,
            attribution="Street photos: Mapillary and "
            "KartaView contributors, CC BY-SA 4.0, via Global Streetscapes",
        )
        for err in report.errors:
            self.stderr.write(f"skipped {err}")
        if report.map is None:
            raise CommandError(f"no photo of the demo pack in {folder} could be imported (reasons above)")
        self.stdout.write(f"map '{report.map.name}': {report.created} locations imported")
