from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from geogame.maps.importer import import_map
from geogame.maps.manifest import ManifestError
from geogame.maps.models import Map
from geogame.maps.rules import SPLIT_ORDER, parse_split_fractions


def split_counts_text(m):
    """ "train/val/test/play = 40/9/9/7" for a map."""
    counts = [m.locations.filter(split=s).count() for s in SPLIT_ORDER]
    return f"{'/'.join(SPLIT_ORDER)} = {'/'.join(map(str, counts))}"


class Command(BaseCommand):
    help = "Import a folder holding manifest.csv and its images into a map (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--name", required=True, help="map name; the same name adds to the same map")
        parser.add_argument("--kind", choices=[k for k, _ in Map.KIND_CHOICES], default=Map.WORLD)
        parser.add_argument("--attribution", default="", help="credit line shown with the map")
        parser.add_argument("--seed", type=int, default=None, help="split seed (default GEOGAME_SPLIT_SEED)")
        parser.add_argument(
            "--splits",
            default=None,
            help="a new map's split fractions, e.g. train=0.6,val=0.15,test=0.1,play=0.15 (the default); "
            "rows whose manifest names a split keep it",
        )
        parser.add_argument(
            "--panorama-view",
            choices=["on", "off"],
            default=None,
            help="offer players a pannable 360-degree view of the places imported from panoramas, besides "
            "the three fixed headings (never in studies or benchmarks); default: leave the map's setting",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, folder, name, kind, attribution, seed, splits, panorama_view, no_progress, **options):
        def progress(rows):
            return tqdm(
                rows, desc="importing", unit="row", disable=no_progress or None, file=self.stderr._out
            )

        try:
            fractions = None if splits is None else parse_split_fractions(splits)
            report = import_map(
                folder,
                name=name,
                kind=kind,
                attribution=attribution,
                seed=seed,
                progress=progress,
                splits=fractions,
                panorama_view=None if panorama_view is None else panorama_view == "on",
            )
        except (ManifestError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        for err in report.errors:
            self.stderr.write(f"skipped {err}")
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if report.map is None:
            raise CommandError(
                f"nothing imported: all {len(report.errors)} row(s) of the manifest were rejected "
                f"(reasons above); no map {name!r} was created"
                if report.errors
                else f"nothing imported: the manifest has no rows; no map {name!r} was created"
            )
        self.stdout.write(
            f"map '{report.map.name}' ({report.map.slug}): {report.created} imported, "
            f"{report.already_present} already present, {len(report.errors)} skipped; "
            f"splits {split_counts_text(report.map)}"
        )
        panoramas = report.map.locations.exclude(panorama="").count()
        if panoramas:
            setting = "on" if report.map.panorama_view else "off (--panorama-view on offers it)"
            self.stdout.write(f"{panoramas} places have a 360-degree panorama; the pannable view: {setting}")
