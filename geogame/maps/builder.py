"""Building a map from Street View or Mapillary: the seeds' data collection, as a service.

A build samples points uniformly over each region (geogame.maps.regions), asks the provider for
imagery near each point, and stores what it finds through the importer's own path
(`importer.render_views` + `importer.location_store`): the same image checks, the same EXIF-free
serving variants, the same splits as a folder import. Every point tried is recorded
(BuildPoint), so a stopped build resumes where it was without asking for finished points again;
(source, source_id) is unique per map, so a panorama or image is never stored twice.
"""

import hashlib
import json
import logging
import random
import time
from collections import Counter
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import regions as regions_mod
from .images import ImageRejected
from .importer import location_store, map_get_or_create, map_refresh_derived, render_views
from .models import BuildPoint, Location, Map, MapBuild
from .providers import mapillary, streetview
from .providers.common import Budget, HttpClient, NoImagery, ProviderError, QuotaExceeded, TransientError

log = logging.getLogger(__name__)

PROVIDERS = (MapBuild.STREETVIEW, MapBuild.MAPILLARY)
ENV_VARS = {MapBuild.STREETVIEW: streetview.ENV_KEY, MapBuild.MAPILLARY: mapillary.ENV_TOKEN}
DEFAULT_SIZE = (640, 640)
SIZE_RANGE = (64, 2048)
DEFAULT_SEARCH_RADIUS_M = {
    MapBuild.STREETVIEW: streetview.DEFAULT_RADIUS_M,
    MapBuild.MAPILLARY: mapillary.DEFAULT_RADIUS_M,
}
# A region gets at most this many points per location asked for (cells at sea find nothing).
DEFAULT_TRIES_PER_LOCATION = 3
# This many points in a row failing after their retries: the provider is down, stop (resumable).
MAX_CONSECUTIVE_ERRORS = 5
SKIP_REASONS = (BuildPoint.DUPLICATE, BuildPoint.NO_IMAGERY, BuildPoint.REJECTED, BuildPoint.ERROR)
MAP_CREDITS = {
    MapBuild.STREETVIEW: "Imagery © Google (Street View); each location carries its own credit.",
    MapBuild.MAPILLARY: "Images © Mapillary contributors, CC BY-SA 4.0; each location names its creator.",
}

# Error messages, as constants that tests reuse.
ERR_UNKNOWN_PROVIDER = "unknown provider {provider!r}; choose one of: " + ", ".join(PROVIDERS)
ERR_MISSING_KEY = {MapBuild.STREETVIEW: streetview.ERR_NO_KEY, MapBuild.MAPILLARY: mapillary.ERR_NO_TOKEN}
ERR_PER_REGION = "per-region must be a positive number of locations, got {value!r}"
ERR_NO_REGIONS = "a build needs at least one region"
ERR_SIZE = "size must be WIDTHxHEIGHT, each side from 64 to 2048 pixels, got {value!r}"
ERR_POSITIVE = "{name} must be more than 0, got {value!r}"
ERR_ALREADY_RUNNING = "build {id} is already running (last progress at {when}); let it finish first"
ERR_DUPLICATE = "{source}:{id} is in the map already"
ERR_KEPT_FAILING = "the provider failed {n} points in a row (last: {last}); run the build again to resume"


class BuildError(ValueError):
    pass


# -- Checks ------------------------------------------------------------------------------------


def parse_size(raw):
    """(width, height) from '640x640' or a pair, each side within SIZE_RANGE."""
    try:
        w, h = (int(v) for v in (raw.lower().split("x") if isinstance(raw, str) else raw))
    except (ValueError, TypeError, AttributeError):
        raise BuildError(ERR_SIZE.format(value=raw)) from None
    if not (SIZE_RANGE[0] <= w <= SIZE_RANGE[1] and SIZE_RANGE[0] <= h <= SIZE_RANGE[1]):
        raise BuildError(ERR_SIZE.format(value=raw))
    return w, h


def check_provider(provider):
    """Raise BuildError unless the provider is known and its key or token is set."""
    if provider not in PROVIDERS:
        raise BuildError(ERR_UNKNOWN_PROVIDER.format(provider=provider))
    if not _secret(provider):
        raise BuildError(ERR_MISSING_KEY[provider])


def check_per_region(per_region):
    if isinstance(per_region, bool) or not isinstance(per_region, int) or per_region <= 0:
        raise BuildError(ERR_PER_REGION.format(value=per_region))
    return per_region


def _secret(provider):
    return settings.GOOGLE_STREETVIEW_KEY if provider == MapBuild.STREETVIEW else settings.MAPILLARY_TOKEN


def _plan_key(provider, region_dicts, seed, options):
    plan = {
        "provider": provider,
        "regions": region_dicts,
        "seed": seed,
        "options": {k: v for k, v in options.items() if k != "max_requests"},
    }
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


# -- Starting ------------------------------------------------------------------------------------


def map_build_start(
    *,
    name,
    provider,
    regions,
    per_region,
    seed=0,
    kind=None,
    size=DEFAULT_SIZE,
    search_radius_m=None,
    tries_per_location=DEFAULT_TRIES_PER_LOCATION,
    max_requests=None,
):
    """The build of map `name` with this plan: a new one, or the existing one to resume.

    1. Check the arguments and that the provider's key or token is set.
    2. Get or create the map (kind: city when every region is a city, else region).
    3. Reuse the build with the same plan (provider, regions, seed, size, radius, tries): its
       finished points stay finished. per_region and the request budget may change on a rerun.
    """
    check_provider(provider)
    check_per_region(per_region)
    if not regions:
        raise BuildError(ERR_NO_REGIONS)
    size = parse_size(size)
    radius = DEFAULT_SEARCH_RADIUS_M[provider] if search_radius_m is None else search_radius_m
    for label, value in (("search radius", radius), ("tries per location", tries_per_location)):
        if not value > 0:
            raise BuildError(ERR_POSITIVE.format(name=label, value=value))
    if max_requests is None:
        max_requests = settings.GEOGAME_BUILD_MAX_REQUESTS
    if not max_requests > 0:
        raise BuildError(ERR_POSITIVE.format(name="max requests", value=max_requests))
    if kind is None:
        kind = Map.CITY if all(r.city for r in regions) else Map.REGION
    m = map_get_or_create(name=name, kind=kind)
    if not m.attribution:
        m.attribution = MAP_CREDITS[provider]
        m.save(update_fields=["attribution"])

    region_dicts = [r.to_dict() for r in regions]
    options = {"size": list(size), "search_radius_m": radius, "tries_per_location": tries_per_location}
    key = _plan_key(provider, region_dicts, seed, options)
    options["max_requests"] = max_requests
    with transaction.atomic():
        build = MapBuild.objects.select_for_update().filter(map=m, plan_key=key).first()
        if build is None:
            return MapBuild.objects.create(
                map=m,
                provider=provider,
                regions=region_dicts,
                per_region=per_region,
                seed=seed,
                options=options,
                plan_key=key,
                summary=_empty_summary(len(regions) * per_region),
            )
        if build.status == MapBuild.DONE and per_region > build.per_region:
            build.status = MapBuild.QUEUED  # more to find in every region
        build.per_region = per_region
        build.options = {**build.options, "max_requests": max_requests}
        build.save(update_fields=["per_region", "options", "status"])
        return build


def _empty_summary(requested):
    return {
        "requested": requested,
        "found": 0,
        "tried": 0,
        "skipped": {r: 0 for r in SKIP_REASONS},
        "requests": {},
        "regions_short": [],
        "message": "",
    }


# -- Running -------------------------------------------------------------------------------------


def provider_for(build, *, budget, sleep=None, clock=None):
    """The provider client for a build, configured from settings (the key is read here, not stored)."""
    http = HttpClient(
        timeout=settings.GEOGAME_BUILD_TIMEOUT_S,
        retries=settings.GEOGAME_BUILD_RETRIES,
        backoff_s=settings.GEOGAME_BUILD_BACKOFF_S,
        budget=budget,
        rate_per_s=settings.GEOGAME_STREETVIEW_RPS
        if build.provider == MapBuild.STREETVIEW
        else settings.GEOGAME_MAPILLARY_RPS,
        max_bytes=settings.GEOGAME_MAX_IMAGE_BYTES,
        sleep=sleep or time.sleep,
        clock=clock or time.monotonic,
        rng=random.Random(build.id),
    )
    radius = build.options["search_radius_m"]
    if build.provider == MapBuild.STREETVIEW:
        return streetview.StreetView(
            settings.GOOGLE_STREETVIEW_KEY,
            http=http,
            base_url=settings.GEOGAME_STREETVIEW_URL,
            size=tuple(build.options["size"]),
            radius_m=radius,
        )
    return mapillary.Mapillary(
        settings.MAPILLARY_TOKEN,
        http=http,
        base_url=settings.GEOGAME_MAPILLARY_URL,
        radius_m=radius,
    )


def _claim(build):
    """Mark the build running unless another runner holds it. A runner silent for longer than
    GEOGAME_BUILD_STALE_S (its worker died) no longer holds it."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GEOGAME_BUILD_STALE_S)
    updated = (
        MapBuild.objects.filter(id=build.id)
        .filter(~Q(status=MapBuild.RUNNING) | Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
        .update(status=MapBuild.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, error="")
    )
    return updated == 1


class _Tally:
    """What the build has done so far, kept in memory and written to its row after each point."""

    def __init__(self, build, n_regions):
        self.outcomes = {}
        for r, j, outcome in build.points.values_list("region_index", "point_index", "outcome"):
            self.outcomes[(r, j)] = outcome
        self.counts = Counter(self.outcomes.values())
        self.found = Counter(r for (r, _), o in self.outcomes.items() if o == BuildPoint.FOUND)
        self.tries = Counter(r for (r, _), o in self.outcomes.items() if o in BuildPoint.FINAL)
        self.settled = {}
        self.n_regions = n_regions
        self.requests_before = Counter(build.summary.get("requests", {}))
        self.short = []

    def record(self, r, j, outcome):
        previous = self.outcomes.get((r, j))  # only ever an ERROR: final points are not tried again
        if previous is not None:
            self.counts[previous] -= 1
        self.outcomes[(r, j)] = outcome
        self.counts[outcome] += 1
        if outcome == BuildPoint.FOUND:
            self.found[r] += 1
        if outcome in BuildPoint.FINAL:
            self.tries[r] += 1

    def progress(self, per_region):
        settled = sum(
            per_region if self.settled.get(r) else min(self.found[r], per_region)
            for r in range(self.n_regions)
        )
        return settled / max(1, self.n_regions * per_region)

    def summary(self, build, budget, message=""):
        requests = self.requests_before + (budget.counts if budget else Counter())
        return {
            "requested": self.n_regions * build.per_region,
            "found": self.counts[BuildPoint.FOUND],
            "tried": sum(self.counts.values()),
            "skipped": {r: self.counts[r] for r in SKIP_REASONS},
            "requests": dict(sorted(requests.items())),
            "regions_short": self.short,
            "message": message,
        }

    def save(self, build, budget, *, message="", **fields):
        summary = self.summary(build, budget, message)
        values = dict(
            progress=self.progress(build.per_region),
            found=summary["found"],
            tried=summary["tried"],
            summary=summary,
            heartbeat_at=timezone.now(),
            **fields,
        )
        MapBuild.objects.filter(id=build.id).update(**values)
        for k, v in values.items():
            setattr(build, k, v)


def map_build_run(*, build, progress=None, sleep=None, clock=None):
    """Run a build, or resume it, until it is done or must stop. Returns the build, refreshed.

    1. Claim it (BuildError when another runner holds it).
    2. For each region, walk its sampled points in order, passing over those already finished,
       until per_region locations were found there or tries_per_location * per_region points
       were tried (the region is then 'short').
    3. Each point: find imagery near it, skip a source id already in the map, fetch, check and
       store it as the importer does, record the point (in one transaction with the location).
    4. Done; or stopped (quota, budget, provider failing, time limit: resumable) or failed
       (refused key, bad request). The map's scoring scale is refreshed in every case.
    """
    if not _claim(build):
        build.refresh_from_db()
        raise BuildError(ERR_ALREADY_RUNNING.format(id=build.id, when=build.heartbeat_at))
    build.refresh_from_db()
    region_list = [regions_mod.Region.from_dict(d) for d in build.regions]
    tally = _Tally(build, len(region_list))
    used = sum(tally.requests_before.values())
    budget = Budget(max(0, build.options["max_requests"] - used))
    status, message = MapBuild.DONE, ""
    try:
        provider = provider_for(build, budget=budget, sleep=sleep, clock=clock)
        errors_in_a_row = 0
        for r, region in enumerate(region_list):
            max_tries = build.per_region * build.options["tries_per_location"]
            for point in regions_mod.iter_points(region, build.seed):
                if tally.found[r] >= build.per_region or tally.tries[r] >= max_tries:
                    break
                if tally.outcomes.get((r, point.index)) in BuildPoint.FINAL:
                    continue
                outcome, detail = _build_point(build, provider, r, region, point)
                tally.record(r, point.index, outcome)
                errors_in_a_row = errors_in_a_row + 1 if outcome == BuildPoint.ERROR else 0
                if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS:
                    raise TransientError(ERR_KEPT_FAILING.format(n=errors_in_a_row, last=detail))
                tally.save(build, budget)
                if progress:
                    progress(build)
            tally.settled[r] = True
            if tally.found[r] < build.per_region:
                tally.short.append(region.name)
    except (QuotaExceeded, TransientError, SoftTimeLimitExceeded, KeyboardInterrupt) as exc:
        status = MapBuild.STOPPED
        message = str(exc) or "the task's time limit was reached; run the build again to resume"
        if isinstance(exc, KeyboardInterrupt):
            tally.save(
                build,
                budget,
                message="interrupted",
                status=status,
                error="interrupted",
                finished_at=timezone.now(),
            )
            raise
    except ProviderError as exc:  # AuthError included
        status, message = MapBuild.FAILED, str(exc)
    except Exception as exc:
        tally.save(
            build,
            budget,
            message=str(exc),
            status=MapBuild.FAILED,
            error=str(exc),
            finished_at=timezone.now(),
        )
        raise
    finally:
        map_refresh_derived(build.map)
    error = message if status != MapBuild.DONE else ""
    tally.save(build, budget, message=message, status=status, error=error, finished_at=timezone.now())
    if progress:
        progress(build)
    return build


def _build_point(build, provider, r, region, point):
    """Try one point; returns (outcome, detail), recorded as a BuildPoint. Raises what stops the
    build (AuthError, QuotaExceeded, other ProviderErrors); a TransientError is this point's ERROR."""
    m = build.map

    def record(outcome, detail="", source_id="", location=None):
        BuildPoint.objects.update_or_create(
            build=build,
            region_index=r,
            point_index=point.index,
            defaults=dict(
                lat=point.lat,
                lon=point.lon,
                outcome=outcome,
                detail=detail[:2000],
                source_id=source_id,
                location=location,
            ),
        )
        return outcome, detail

    try:
        candidate = provider.find(point.lat, point.lon)
        if candidate is None:
            return record(BuildPoint.NO_IMAGERY, f"no imagery within {build.options['search_radius_m']:g} m")
        if Location.objects.filter(map=m, source=candidate.source, source_id=candidate.source_id).exists():
            detail = ERR_DUPLICATE.format(source=candidate.source, id=candidate.source_id)
            return record(BuildPoint.DUPLICATE, detail, candidate.source_id)
        capture = provider.fetch(candidate, point.heading)
        views = []
        for image in capture.images:
            views += render_views(
                image.data,
                projection=capture.projection,
                heading=image.heading,
                size=tuple(build.options["size"]),
            )
    except NoImagery as exc:
        return record(BuildPoint.NO_IMAGERY, str(exc))
    except ImageRejected as exc:
        return record(BuildPoint.REJECTED, str(exc), candidate.source_id)
    except TransientError as exc:
        log.warning("build %s, region %s, point %s: %s", build.id, r, point.index, exc)
        return record(BuildPoint.ERROR, str(exc))
    with transaction.atomic():
        created = location_store(
            m,
            views,
            seed=settings.GEOGAME_SPLIT_SEED,
            source=capture.source,
            source_id=capture.source_id,
            lat=capture.lat,
            lon=capture.lon,
            city=region.city,
            country=region.country,
            license=capture.license,
            attribution=capture.attribution,
            captured_at=capture.captured_at,
        )
        if not created:  # stored by someone else between the check and now
            detail = ERR_DUPLICATE.format(source=capture.source, id=capture.source_id)
            return record(BuildPoint.DUPLICATE, detail, capture.source_id)
        location = Location.objects.get(map=m, source=capture.source, source_id=capture.source_id)
        return record(BuildPoint.FOUND, "", capture.source_id, location)


def summary_text(build):
    """One paragraph: requested, found, skipped and why, requests made, regions left short."""
    s = build.summary or {}
    skipped = {k: v for k, v in (s.get("skipped") or {}).items() if v}
    n_regions = len(build.regions)
    lines = [
        f"map '{build.map.name}' ({build.map.slug}), {build.provider} build {build.id}: {build.status}",
        f"requested {s.get('requested', 0)} locations ({n_regions} region(s) x {build.per_region}); "
        f"found {s.get('found', 0)}; tried {s.get('tried', 0)} points",
        "skipped " + (", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()) or "none"),
        "requests: " + (", ".join(f"{v} {k}" for k, v in (s.get("requests") or {}).items()) or "none"),
    ]
    if s.get("regions_short"):
        short = s["regions_short"]
        lines.append(
            f"{len(short)} region(s) ran out of tries: "
            + ", ".join(short[:10])
            + (" ..." if len(short) > 10 else "")
        )
    if s.get("message"):
        lines.append(s["message"])
    return "\n".join(lines)
