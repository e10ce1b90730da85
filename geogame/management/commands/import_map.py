from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from geogame.importer import import_map
from geogame.manifest import ManifestError
from geogame.models import Map


class Command(BaseCommand):
    help = "Import a folder holding manifest.csv and its images into a map (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--name", required=True, help="map name; the same name adds to the same map")
        parser.add_argument("--kind", choices=[k for k, _ in Map.KIND_CHOICES], default=Map.WORLD)
        parser.add_argument("--attribution", default="", help="credit line shown with the map")
        parser.add_argument("--seed", type=int, default=None, help="split seed (default GEOGAME_SPLIT_SEED)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, folder, name, kind, attribution, seed, no_progress, **options):
        def progress(rows):
            return tqdm(
                rows, desc="importing", unit="row", disable=no_progress or None, file=self.stderr._out
            )

        try:
            report = import_map(
                folder, name=name, kind=kind, attribution=attribution, seed=seed, progress=progress
            )
        except (ManifestError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        for err in report.errors:
            self.stderr.write(f"skipped {err}")
        splits = {
            s: report.map.locations.filter(split=s).count()
            for s, _ in report.map.locations.model.SPLIT_CHOICES
        }
        self.stdout.write(
            f"map '{report.map.name}' ({report.map.slug}): {report.created} imported, "
            f"{report.already_present} already present, {len(report.errors)} skipped; "
            f"splits train/val/test = {splits['train']}/{splits['val']}/{splits['test']}"
        )
