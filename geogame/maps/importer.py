"""Importing a folder of images described by a manifest.csv into a Map."""

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import slugify
from PIL import Image

from geogame.common import text_input

from . import countries, hooks, images, panorama
from .manifest import ManifestError, RowError, parse_manifest
from .models import Location, Map, View
from .rules import assign_split, city_centres, map_scale_km, split_fractions

PANORAMA_VIEW_SIZE = (768, 768)
# The largest panorama kept for the pannable view (Map.panorama_view): a bigger one is scaled down.
# Players get a per-round rendering of it (geogame.game.round_images.render_panorama), never this file.
PANORAMA_STORED_SIZE = (4096, 2048)
PANORAMA_STORED_QUALITY = 88


@dataclass
class ImportReport:
    map: Map | None  # None: no row imported, and no map of that name existed (none is created)
    created: int = 0
    already_present: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Rows imported all the same: their manifest iso2 differs from the country of their coordinates.
    warnings: list[RowError] = field(default_factory=list)


def _view_file_name(digest, suffix):
    return f"views/{digest[:2]}/{digest}{suffix}"


def _store_once(name, data):
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        assert saved == name, f"storage renamed {name} to {saved}"


def store_bytes(data, suffix=".jpg"):
    """Save bytes under their content hash; identical content is stored once."""
    digest = images.sha256_hex(data)
    name = _view_file_name(digest, suffix)
    _store_once(name, data)
    return name, digest


def view_file_name(view_sha256, suffix):
    """Where a file derived from the view whose image has this sha256 is stored (geogame.maps.hooks):
    next to the image, named after it, so View needs no field for it."""
    return _view_file_name(view_sha256, suffix)


ERR_SPLITS_DIFFER = (
    "map {slug} is split {have}; to split it {want}, run manage.py resplit {slug} --splits ... "
    "(imports never move existing locations)"
)


def _fractions_text(fractions):
    return ",".join(f"{name}={f:g}" for name, f in split_fractions(fractions))


def map_get_or_create(*, name, kind=Map.WORLD, attribution="", splits=None):
    """The map called `name`, created if new (split by `splits`, {split: fraction}, default the
    model's); an existing map keeps its splits, and asking for other ones is refused."""
    max_chars = Map._meta.get_field("name").max_length  # and the slug's
    name = text_input.clean_name(name, what="the map's name", max_chars=max_chars)
    slug = slugify(name)[:max_chars].strip("-")
    if not slug:
        raise ValueError(f"map name {name!r} has no letters or digits to make a slug from")
    defaults = {"name": name, "kind": kind}
    if splits is not None:
        defaults["split_fractions"] = dict(split_fractions(splits))
    m, created = Map.objects.get_or_create(slug=slug, defaults=defaults)
    if not created and splits is not None and split_fractions(splits) != split_fractions(m.split_fractions):
        raise ValueError(
            ERR_SPLITS_DIFFER.format(
                slug=slug, have=_fractions_text(m.split_fractions), want=_fractions_text(splits)
            )
        )
    if attribution and m.attribution != attribution:
        m.attribution = attribution
        m.save(update_fields=["attribution"])
    return m


def render_views(data, *, projection, heading, size=PANORAMA_VIEW_SIZE):
    """[(heading, upright RGB image)] for one image's bytes: the image itself, or the three views
    of an equirectangular panorama whose centre column looks along `heading`.
    Raises ImageRejected with the reason for anything that is not a usable image."""
    im = images.open_image(
        data, max_bytes=settings.GEOGAME_MAX_IMAGE_BYTES, max_pixels=settings.GEOGAME_MAX_IMAGE_PIXELS
    )
    if projection != "equirectangular":
        return [(heading, im)]
    if not panorama.looks_equirectangular(*im.size):
        raise images.ImageRejected(
            f"declared equirectangular but the image is {im.size[0]}x{im.size[1]} (expected 2:1)"
        )
    pano_heading = heading or 0.0
    return [
        (panorama.absolute_heading(pano_heading, offset), view)
        for offset, view in panorama.render_three_views(im, size=size)
    ]


def stored_panorama(data):
    """EXIF-free JPEG bytes of an equirectangular panorama for the pannable view, scaled down to
    PANORAMA_STORED_SIZE when bigger. The bytes were checked by render_views already."""
    im = images.open_image(
        data, max_bytes=settings.GEOGAME_MAX_IMAGE_BYTES, max_pixels=settings.GEOGAME_MAX_IMAGE_PIXELS
    )
    if im.size[0] > PANORAMA_STORED_SIZE[0]:
        im = im.resize(PANORAMA_STORED_SIZE, Image.Resampling.LANCZOS)
    return images.encode_jpeg(im, PANORAMA_STORED_QUALITY)


def render_row_views(row, data):
    """[(heading, upright RGB image)] for one manifest row's image bytes."""
    return render_views(data, projection=row.projection, heading=row.heading)


def import_row(m, row, folder, *, seed):
    """Import one row. Returns True if created, False if already present.
    Raises ValueError (incl. ImageRejected) with the reason for a bad row."""
    existing = Location.objects.filter(map=m, source=row.source, source_id=row.source_id).first()
    if existing is not None and (existing.panorama or row.projection != "equirectangular"):
        return False
    # The operator owns the folder (import_map is a command, never a web upload): symbolic links
    # inside it are followed, so `images/` may live on another disk. The manifest already refuses
    # absolute paths and `..` (manifest._parse_row); this checks the path as written, unresolved.
    path = folder / row.file
    if not path.is_relative_to(folder):
        raise ValueError(f"file {row.file!r} is outside the folder")
    if not path.is_file():
        raise ValueError(f"file {row.file} not found")
    size = path.stat().st_size
    if size > settings.GEOGAME_MAX_IMAGE_BYTES:
        raise images.ImageRejected(f"file is {size} bytes; the limit is {settings.GEOGAME_MAX_IMAGE_BYTES}")
    data = path.read_bytes()
    if row.sha256 and images.sha256_hex(data) != row.sha256:
        raise ValueError(f"sha256 of {row.file} does not match the manifest")
    if existing is not None:
        # Imported before panoramas were kept: keep this one now, and leave the rest as it is.
        name, _ = store_bytes(stored_panorama(data))
        Location.objects.filter(id=existing.id, panorama="").update(panorama=name)
        return False
    views = render_row_views(row, data)
    panorama_bytes = stored_panorama(data) if row.projection == "equirectangular" else None
    return location_store(
        m,
        views,
        seed=seed,
        source=row.source,
        source_id=row.source_id,
        lat=row.lat,
        lon=row.lon,
        city=row.city,
        country=row.country,
        license=row.license,
        attribution=row.attribution,
        captured_at=row.captured_at,
        split=row.split,
        panorama=panorama_bytes,
    )


def location_store(
    m,
    views,
    *,
    seed,
    source,
    source_id,
    lat,
    lon,
    city="",
    country="",
    license="",
    attribution="",
    captured_at="",
    split="",
    panorama=None,
):
    """Store a Location of map `m` with its views ([(heading, upright RGB image)], as from
    render_views): each view saved as EXIF-free serving variants under its content hash, and
    the files other apps derive from the served image (geogame.maps.hooks: the machine players'
    model input).
    `split` empty: drawn from `seed` by the map's split fractions (rules.assign_split).
    `panorama`: the stored_panorama bytes of the panorama the views were cut from, if any.
    Returns True if created, False if (source, source_id) is in the map already."""
    stored = []
    for heading, im in views:
        display, thumb = images.serving_variants(im)
        display_name, digest = store_bytes(display)
        thumb_name, _ = store_bytes(thumb)
        for suffix, make in hooks.view_files.items():
            _store_once(_view_file_name(digest, suffix), make(display))
        w, h = images.fit_within(im, images.DISPLAY_LONG_SIDE).size
        stored.append((heading, display_name, thumb_name, digest, w, h))

    panorama_name = store_bytes(panorama)[0] if panorama else ""
    fractions = split_fractions(m.split_fractions)
    with transaction.atomic():
        loc, created = Location.objects.get_or_create(
            map=m,
            source=source,
            source_id=source_id,
            defaults=dict(
                lat=lat,
                lon=lon,
                city=city,
                country=country,
                country_code=countries.country_at(lat, lon) or "",
                split=split or assign_split(f"{source}:{source_id}", seed, fractions),
                license=license,
                attribution=attribution,
                captured_at=captured_at,
                panorama=panorama_name,
            ),
        )
        if not created:
            return False  # a concurrent import got there first
        View.objects.bulk_create(
            View(location=loc, index=i, heading=heading, image=dn, thumb=tn, sha256=digest, width=w, height=h)
            for i, (heading, dn, tn, digest, w, h) in enumerate(stored)
        )
    return True


def map_refresh_scale(m):
    """World maps use GeoGuessr's world scale; region and city maps their own diagonal
    (geogame.maps.rules.map_scale_km)."""
    points = [] if m.kind == Map.WORLD else list(m.locations.values_list("lat", "lon"))
    scale = map_scale_km(m.kind, points)
    if scale != m.scale_km:
        m.scale_km = scale
        m.save(update_fields=["scale_km"])


def map_refresh_city_centres(m):
    """Store the centre of each of the map's cities (rules.city_centres): city mode reads them on
    every request, and they change only when locations are added."""
    rows = Location.objects.filter(map=m).exclude(city="").values_list("city", "country", "lat", "lon")
    centres = {label: list(point) for label, point in city_centres(rows).items()}
    if centres != m.city_centres:
        m.city_centres = centres
        m.save(update_fields=["city_centres"])


def map_refresh_derived(m):
    """What the map keeps from its locations: its scoring scale and its city centres."""
    map_refresh_scale(m)
    map_refresh_city_centres(m)


def import_map(
    folder, *, name, kind=Map.WORLD, attribution="", seed=None, progress=None, splits=None, panorama_view=None
):
    """Import `folder`/manifest.csv into the map called `name`.

    1. Parse the manifest; unusable files raise ManifestError, bad rows are
       collected with their row number.
    2. Import each row on its own (a bad image skips only its row); rows whose
       (source, source_id) is already in the map are left as they are.
    3. Refresh the map's scoring scale, and set its panorama_view when `panorama_view` is not None.
    A new map is created only with its first imported row: when every row is rejected the
    report's map is None and nothing was written.
    """
    folder = Path(folder).resolve()
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise ManifestError(f"no manifest.csv in {folder}")
    rows, errors = parse_manifest(manifest.read_bytes())
    seed = settings.GEOGAME_SPLIT_SEED if seed is None else seed
    map_args = dict(name=name, kind=kind, attribution=attribution, splits=splits)
    with transaction.atomic():  # a bad name or other splits end the import before any row
        slug = map_get_or_create(**map_args).slug
        transaction.set_rollback(True)
    existing = Map.objects.filter(slug=slug).exists()
    report = ImportReport(map=map_get_or_create(**map_args) if existing else None, errors=list(errors))
    for row in progress(rows) if progress else rows:
        warning = country_mismatch(row)
        if warning:
            report.warnings.append(RowError(row.line, warning))
        try:
            if report.map is None:
                # The map is made (or found) in one transaction with the first row that imports,
                # so an import whose rows are all rejected creates no empty map.
                with transaction.atomic():
                    m = map_get_or_create(**map_args)
                    created = _import_row_or_fail(m, row, folder, seed=seed)
                report.map = m
            else:
                created = _import_row_or_fail(report.map, row, folder, seed=seed)
        except _RowRejected as exc:
            report.errors.append(RowError(row.line, str(exc)))
            continue
        if created:
            report.created += 1
        else:
            report.already_present += 1
    report.errors.sort(key=lambda e: e.line)
    if report.map is not None:
        map_refresh_derived(report.map)
        if panorama_view is not None and report.map.panorama_view != panorama_view:
            report.map.panorama_view = panorama_view
            report.map.save(update_fields=["panorama_view"])
    return report


def country_mismatch(row):
    """Why the row's manifest iso2 differs from the country its coordinates fall in; "" when it does
    not (or the manifest names none)."""
    if not row.iso2:
        return ""
    found = countries.country_at(row.lat, row.lon)
    if found == row.iso2:
        return ""
    where = f"in {found}" if found else "in no country (at sea?)"
    return f"manifest iso2 is {row.iso2} but {row.lat:.5f}, {row.lon:.5f} lies {where}"


class _RowRejected(Exception):
    """One row's reason (not a ValueError, so a bad map name or split still ends the import)."""


def _import_row_or_fail(m, row, folder, *, seed):
    try:
        return import_row(m, row, folder, seed=seed)
    except ValueError as exc:
        raise _RowRejected(str(exc)) from exc
