"""Map tasks: building a map from Street View or Mapillary."""

from celery import shared_task
from django.conf import settings


@shared_task(
    name="geogame.build_map",
    acks_late=True,
    soft_time_limit=settings.GEOGAME_BUILD_SOFT_TIME_LIMIT_S,
    time_limit=settings.GEOGAME_BUILD_SOFT_TIME_LIMIT_S + 300,
)
def build_map(build_id):
    """Run or resume a MapBuild (geogame.maps.builder). Safe to redeliver: a done build is left alone,
    one another worker is running is left to it, and a resumed one skips its finished points.
    At the soft time limit the build stops, resumable, with its progress saved."""
    from .builder import BuildError, map_build_run
    from .models import MapBuild

    build = MapBuild.objects.select_related("map").filter(id=build_id).first()
    if build is None or build.status == MapBuild.DONE:
        return build and build.status
    try:
        return map_build_run(build=build).status
    except BuildError:
        return MapBuild.RUNNING  # another worker holds it
