"""Staff pages: build a map from Street View or Mapillary in the background, watch its progress."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from geogame.common import background

from . import regions as regions_mod
from .builder import ERR_PER_REGION, BuildError, check_provider, map_build_start
from .models import MapBuild

BUILD_TASK = "geogame.build_map"
RECENT_BUILDS = 20


def _build_json(b):
    s = b.summary or {}
    return {
        "id": b.id,
        "map": b.map.slug,
        "map_name": b.map.name,
        "provider": b.provider,
        "status": b.status,
        "progress": round(b.progress, 3),
        "found": b.found,
        "tried": b.tried,
        "requested": s.get("requested", 0),
        "skipped": s.get("skipped", {}),
        "requests": s.get("requests", {}),
        "error": b.error,
        "created_at": b.created_at.isoformat(),
    }


def _regions_from_form(post):
    """The preset named in the form, else the CSV text pasted in it (never a path on the server)."""
    preset = post.get("preset", "").strip()
    if preset:
        if not preset.startswith(regions_mod.PRESET_PREFIX):
            preset = regions_mod.PRESET_PREFIX + preset
        return regions_mod.regions_from_spec(preset)  # a preset: never read from the filesystem
    return regions_mod.parse_regions(post.get("regions", ""))


def _int(raw, *, default=None, message):
    if raw in (None, "") and default is not None:
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise BuildError(message.format(value=raw)) from None


def _page(request, *, error, form):
    return render(
        request,
        "maps/build_map.html",
        {
            "builds": MapBuild.objects.select_related("map")[:RECENT_BUILDS],
            "providers": MapBuild.PROVIDER_CHOICES,
            "error": error,
            "form": form,
            "presets_help": regions_mod.PRESETS_HELP,
        },
        status=400 if error else 200,
    )


@staff_member_required
@require_http_methods(["GET", "POST"])
def map_builds(request):
    error = None
    if request.method == "POST":
        post = request.POST
        try:
            build = map_build_start(
                name=post.get("name", "").strip(),
                provider=post.get("provider", ""),
                regions=_regions_from_form(post),
                per_region=_int(post.get("per_region"), message=ERR_PER_REGION),
                seed=_int(post.get("seed"), default=0, message="seed must be a whole number, got {value!r}"),
                size=post.get("size", "").strip() or "640x640",
            )
            background.enqueue(BUILD_TASK, build.id)
            return redirect("map-builds")
        except (regions_mod.RegionsError, BuildError, ValueError) as exc:
            error = str(exc)
    return _page(request, error=error, form=request.POST)


@staff_member_required
@require_POST
def map_build_resume(request, build_id):
    build = get_object_or_404(MapBuild, id=build_id)
    try:
        check_provider(build.provider)
    except BuildError as exc:
        return _page(request, error=str(exc), form={})
    if build.status != MapBuild.DONE:
        background.enqueue(BUILD_TASK, build.id)
    return redirect("map-builds")


@staff_member_required
@require_GET
def map_builds_status(request):
    builds = MapBuild.objects.select_related("map")[:RECENT_BUILDS]
    return JsonResponse({"builds": [_build_json(b) for b in builds]})
