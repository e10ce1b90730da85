import argparse

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from geogame.maps import regions as regions_mod
from geogame.maps.builder import PROVIDERS, BuildError, map_build_run, map_build_start, summary_text
from geogame.maps.models import Map, MapBuild


def positive_int(raw):
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {raw}")
    return value


class Command(BaseCommand):
    help = (
        "Build a map from Google Street View or Mapillary: sample points uniformly over each region, "
        "snap them to imagery, store three views per location. Rerunning the same command resumes the "
        "build: finished points are not asked for again."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="map name; the same name adds to the same map")
        parser.add_argument("--provider", required=True, choices=PROVIDERS)
        parser.add_argument(
            "--regions",
            required=True,
            metavar="FILE",
            help=f"regions CSV (name, country, lat, lon, radius_km, or a box), or {regions_mod.PRESETS_HELP}",
        )
        # Checked by the builder, so that 0 gets the same message here as on the staff page.
        parser.add_argument("--per-region", type=int, required=True, metavar="N", help="locations per region")
        parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
        parser.add_argument(
            "--kind",
            choices=[k for k, _ in Map.KIND_CHOICES],
            default=None,
            help="map kind for a new map (default: city if every region is a city)",
        )
        parser.add_argument("--size", default="640x640", help="view size WIDTHxHEIGHT (default 640x640)")
        parser.add_argument(
            "--search-radius-m",
            type=positive_int,
            default=None,
            metavar="M",
            help="how far from a sampled point imagery may be (default 50, Mapillary 100)",
        )
        parser.add_argument(
            "--tries-per-location",
            type=positive_int,
            default=3,
            metavar="K",
            help="give up on a region after K x per-region points (default 3)",
        )
        parser.add_argument(
            "--max-requests",
            type=positive_int,
            default=None,
            metavar="N",
            help="requests the build may make, all runs together (default GEOGAME_BUILD_MAX_REQUESTS)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--progress",
            action="store_true",
            help="a progress bar even when stderr is not a terminal (default: only on one)",
        )

    def handle(
        self,
        name,
        provider,
        regions,
        per_region,
        seed,
        kind,
        size,
        search_radius_m,
        tries_per_location,
        max_requests,
        no_progress,
        progress,
        **options,
    ):
        try:
            region_list = regions_mod.regions_from_spec(regions)
            build = map_build_start(
                name=name,
                provider=provider,
                regions=region_list,
                per_region=per_region,
                seed=seed,
                kind=kind,
                size=size,
                search_radius_m=search_radius_m,
                tries_per_location=tries_per_location,
                max_requests=max_requests,
            )
        except (regions_mod.RegionsError, BuildError, ValueError) as exc:  # ValueError: the map's name
            raise CommandError(str(exc)) from None

        total = len(region_list) * per_region
        disable = True if no_progress else (False if progress else None)  # None: only on a terminal
        bar = tqdm(
            total=total, desc=f"building {build.map.slug}", unit="loc", disable=disable, file=self.stderr._out
        )

        def on_point(b):
            bar.n = round(b.progress * total)
            bar.set_postfix(found=b.found, tried=b.tried, refresh=False)
            bar.refresh()

        try:
            build = map_build_run(build=build, progress=on_point)
        except BuildError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        self.stdout.write(summary_text(build))
        if build.status == MapBuild.FAILED:
            raise CommandError(f"build {build.id} failed: {build.error}")
        if build.status == MapBuild.STOPPED:
            raise CommandError(f"build {build.id} stopped: {build.error} (the same command resumes it)")
