import argparse
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from geogame.maps.sample import DEFAULT_TIMEOUT, SHIPPED_MANIFEST, SampleError, ensure_sample


def positive_seconds(raw):
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {raw}")
    return value


class Command(BaseCommand):
    help = (
        "Put the demo pack (CC BY-SA street photos) in DATA_DIR/sample: manifest.csv + images/, each "
        "sha256-verified. Copies from --from DIR or GEOGAME_SAMPLE_DIR when set, else downloads; "
        "a rerun skips what is already there and resumes partial downloads."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from",
            dest="source_dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="copy from a local copy of the pack (default: GEOGAME_SAMPLE_DIR, else download)",
        )
        parser.add_argument("--dest", type=Path, default=None, metavar="DIR", help="default: DATA_DIR/sample")
        parser.add_argument("--manifest", type=Path, default=SHIPPED_MANIFEST, metavar="FILE")
        parser.add_argument(
            "--timeout",
            type=positive_seconds,
            default=DEFAULT_TIMEOUT,
            metavar="S",
            help=f"seconds to wait on a connect or read before giving up (default {DEFAULT_TIMEOUT:g})",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, source_dir, dest, manifest, timeout, no_progress, **options):
        if source_dir is None and settings.GEOGAME_SAMPLE_DIR:
            source_dir = Path(settings.GEOGAME_SAMPLE_DIR)
        dest = dest or Path(settings.DATA_DIR) / "sample"
        try:
            summary = ensure_sample(
                dest,
                source_dir=source_dir,
                manifest=manifest,
                timeout=timeout,
                progress=False if no_progress else None,
                progress_file=self.stderr._out,
            )
        except SampleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(summary))
        self.stdout.write(f"next: manage.py import_map {dest} --name <map name>")
