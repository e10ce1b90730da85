"""A map's rules: how its locations are split, its cities and their centres, and its scale D for
scoring (geogame.game.scoring). Pure; no Django."""

import hashlib

from geogame.common.geo import bounding_box, haversine_km, spherical_mean

WORLD_SCALE_KM = 14916.862
# Views of one place: three headings 120 degrees apart (a single photo is one view).
MAX_VIEWS = 3

# A map's locations fall in four splits, in this order along the hash (assign_split): learned players
# train on `train` and early-stop on `val`; studies draw from `test`; machine games draw from `test`
# and `play` (never a location a machine trained on). Human-only games use every split.
SPLIT_ORDER = ("train", "val", "test", "play")
# New maps. On the 65-location demo pack: 40 train / 9 val / 9 test / 7 play (see README, "Splits").
DEFAULT_SPLIT_FRACTIONS = {"train": 0.60, "val": 0.15, "test": 0.10, "play": 0.15}
# Maps imported before the play split existed keep these until `manage.py resplit`.
LEGACY_SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15, "play": 0.0}


def split_fractions(fractions):
    """((name, fraction), ...) in SPLIT_ORDER from a {name: fraction} mapping, checked: known names,
    fractions in [0, 1] summing to 1. The order is fixed here, never taken from the mapping (a
    PostgreSQL jsonb object does not keep its keys' order), so a location's split is stable."""
    if not isinstance(fractions, dict) or not fractions:
        raise ValueError("split fractions must map split names to fractions")
    unknown = sorted(set(fractions) - set(SPLIT_ORDER))
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; splits are {', '.join(SPLIT_ORDER)}")
    out = []
    for name in SPLIT_ORDER:
        f = fractions.get(name, 0.0)
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f <= 1.0:
            raise ValueError(f"the {name} fraction must be a number from 0 to 1, got {f!r}")
        out.append((name, float(f)))
    total = sum(f for _, f in out)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must add up to 1, not {total:g}")
    return tuple(out)


def parse_split_fractions(text):
    """{name: fraction} from "train=0.6,val=0.15,test=0.1,play=0.15" (unnamed splits get 0), checked."""
    fractions = {}
    for part in str(text or "").split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip().lower()
        try:
            if not sep or not name:
                raise ValueError
            fraction = float(value)
        except ValueError:
            raise ValueError(
                f"write splits as name=fraction pairs, e.g. train=0.6,val=0.15; not {part!r}"
            ) from None
        if name in fractions:
            raise ValueError(f"split {name!r} is named twice")
        fractions[name] = fraction
    return dict(split_fractions(fractions))


SPLIT_FRACTIONS = split_fractions(DEFAULT_SPLIT_FRACTIONS)


def assign_split(group_key, seed, fractions=SPLIT_FRACTIONS):
    """Deterministic split for a group of images (one location).

    Hashing the key, rather than shuffling the whole list, keeps every existing
    location in its split when rows are added later, and all views of one
    location share the key, so they never straddle splits.
    """
    digest = hashlib.sha256(f"{seed}:{group_key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, fraction in fractions:
        acc += fraction
        if u < acc:
            return name
    return fractions[-1][0]


def region_scale_km(points):
    """Scale of a region map: the diagonal of its locations' bounding box
    (GeoGuessr's rule), never below 1 km so tiny maps still score sensibly."""
    min_lat, min_lon, max_lat, max_lon = bounding_box(points)
    return max(1.0, haversine_km(min_lat, min_lon, max_lat, max_lon))


def map_scale_km(kind, points):
    """D of a map of this kind ("world", "region" or "city", as geogame.maps.models.Map.kind) with
    these (lat, lon) locations. World maps: the world scale. Region and city maps: their own
    extent, as region_scale_km, so a 5 km miss on a map of a few cities is not nearly perfect
    (city mode scores the right city 5000 and any other 0; coordinate games on a city map score
    on its extent). A map without locations yet: the world scale."""
    if kind == "world" or not points:
        return WORLD_SCALE_KM
    return region_scale_km(points)


def city_label(city, country):
    return f"{city}, {country}" if country else city


def city_centres(rows):
    """{"City, Country": (lat, lon)} from (city, country, lat, lon) rows: the spherical mean of each
    city's locations, by label (rows without a city are left out)."""
    groups = {}
    for city, country, lat, lon in rows:
        if city:
            groups.setdefault(city_label(city, country), []).append((lat, lon))
    return {label: spherical_mean(points) for label, points in sorted(groups.items())}
