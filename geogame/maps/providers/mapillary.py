"""Mapillary API v4: images near a point, cut into the round's three views. Stdlib only; no Django.

1. Search: GET {base}/images?access_token=T&fields=id,geometry,compass_angle,is_pano,sequence,creator,
   captured_at,thumb_2048_url&bbox=minLon,minLat,maxLon,maxLat&limit=N answers {data: [...]};
   errors are HTTP 4xx with {error: {message, type, code}} (code 190: bad token; 4, 17, 32, 613:
   rate limited).
2. Choose: the nearest 360-degree panorama if there is one (the builder cuts it into three views
   with the import's panorama renderer); otherwise up to three images of one sequence whose
   compass angles are closest to 120 degrees apart.
3. Fetch each chosen image's bytes from its thumb_2048_url.

Mapillary images are CC BY-SA 4.0: each location keeps its image ids and creators for the credit.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

from geogame.common.geo import EARTH_RADIUS_KM, haversine_km

from .common import AuthError, Capture, FetchedImage, NoImagery, ProviderError, Retry, angle_diff

SOURCE = "mapillary"
ENV_TOKEN = "GEOGAME_MAPILLARY_TOKEN"
DEFAULT_BASE_URL = "https://graph.mapillary.com"
LICENSE = "CC BY-SA 4.0"
FIELDS = (
    "id",
    "geometry",
    "compass_angle",
    "is_pano",
    "sequence",
    "creator",
    "captured_at",
    "thumb_2048_url",
)
DEFAULT_RADIUS_M = 100
DEFAULT_LIMIT = 100
# A view further than this from h + 120 or h + 240 is not used: it would mostly repeat another.
DEFAULT_MAX_ANGLE_ERROR_DEG = 40.0
VIEW_OFFSETS_DEG = (120.0, 240.0)
RATE_LIMIT_CODES = {4, 17, 32, 613}
AUTH_ERROR_CODES = {190}

ERR_NO_TOKEN = "Mapillary needs an access token: set " + ENV_TOKEN
ERR_DENIED = "Mapillary refused the token in " + ENV_TOKEN + " ({detail})"


@dataclass(frozen=True)
class MapillaryImage:
    id: str
    lat: float
    lon: float
    compass_angle: float | None
    is_pano: bool
    sequence: str
    creator: str
    captured_at: int | None  # ms since the epoch
    thumb_url: str

    @classmethod
    def from_api(cls, item):
        """One element of `data`, or None when it lacks what a location needs."""
        try:
            lon, lat = item["geometry"]["coordinates"][:2]
            lat, lon = float(lat), float(lon)
            angle = item.get("compass_angle")
            angle = None if angle is None else float(angle) % 360.0
            creator = item.get("creator")
            creator = creator if isinstance(creator, dict) else {}
            creator = str(creator.get("username") or creator.get("id") or "")
            captured = item.get("captured_at")
            return cls(
                id=str(item["id"]),
                lat=lat,
                lon=lon,
                compass_angle=angle,
                is_pano=bool(item.get("is_pano")),
                sequence=str(item.get("sequence") or ""),
                creator=creator,
                captured_at=int(captured) if captured is not None else None,
                thumb_url=str(item.get("thumb_2048_url") or ""),
            )
        except (KeyError, TypeError, ValueError, IndexError):
            return None


@dataclass(frozen=True)
class MapillaryPick:
    """The images chosen for one location; the first is the anchor (its id is the location's)."""

    images: tuple[MapillaryImage, ...]
    is_pano: bool

    source = SOURCE

    @property
    def source_id(self):
        return self.images[0].id


def spread_views(anchor, candidates, *, max_angle_error=DEFAULT_MAX_ANGLE_ERROR_DEG):
    """The anchor, then for h + 120 and h + 240 (h: the anchor's compass angle) the candidate whose
    angle is closest, if within max_angle_error: up to three views about 120 degrees apart."""
    chosen = [anchor]
    if anchor.compass_angle is None:
        return chosen
    for offset in VIEW_OFFSETS_DEG:
        target = (anchor.compass_angle + offset) % 360.0
        taken = {im.id for im in chosen}
        best = min(
            (im for im in candidates if im.compass_angle is not None and im.id not in taken),
            key=lambda im: (angle_diff(im.compass_angle, target), im.id),
            default=None,
        )
        if best is not None and angle_diff(best.compass_angle, target) <= max_angle_error:
            chosen.append(best)
    return chosen


def choose(images, lat, lon, *, max_angle_error=DEFAULT_MAX_ANGLE_ERROR_DEG):
    """Step 2: a MapillaryPick for the point (lat, lon), or None when `images` is empty."""
    by_distance = sorted(images, key=lambda im: (haversine_km(lat, lon, im.lat, im.lon), im.id))
    panos = [im for im in by_distance if im.is_pano and im.thumb_url]
    if panos:
        return MapillaryPick(images=(panos[0],), is_pano=True)
    usable = [im for im in by_distance if im.thumb_url]
    best = None
    for sequence in dict.fromkeys(im.sequence for im in usable):  # nearest sequence first
        members = [im for im in usable if im.sequence == sequence]
        views = spread_views(members[0], members, max_angle_error=max_angle_error)
        if best is None or len(views) > len(best):
            best = views
    return MapillaryPick(images=tuple(best), is_pano=False) if best else None


def _date(ms):
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).date().isoformat()


def attribution_for(images):
    creators = list(dict.fromkeys(im.creator for im in images if im.creator)) or ["unknown"]
    ids = ", ".join(im.id for im in images)
    page = f"https://www.mapillary.com/app/?pKey={images[0].id}"
    return f"© {', '.join(creators)} via Mapillary, {LICENSE} (image {ids}: {page})"


class Mapillary:
    source = SOURCE

    def __init__(
        self,
        token,
        *,
        http,
        base_url=DEFAULT_BASE_URL,
        radius_m=DEFAULT_RADIUS_M,
        limit=DEFAULT_LIMIT,
        max_angle_error=DEFAULT_MAX_ANGLE_ERROR_DEG,
    ):
        if not token:
            raise AuthError(ERR_NO_TOKEN)
        self._token = token
        self.http = http
        self.http.secrets.append(token)
        self.base_url = base_url.rstrip("/")
        self.radius_m = radius_m
        self.limit = limit
        self.max_angle_error = max_angle_error

    def bbox(self, lat, lon):
        """(min_lon, min_lat, max_lon, max_lat) of a square about radius_m from the point."""
        dlat = math.degrees(self.radius_m / 1000.0 / EARTH_RADIUS_KM)
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        return (
            max(-180.0, lon - dlon),
            max(-90.0, lat - dlat),
            min(180.0, lon + dlon),
            min(90.0, lat + dlat),
        )

    def search(self, lat, lon):
        """Step 1: the images in the box around (lat, lon)."""
        params = {
            "access_token": self._token,
            "fields": ",".join(FIELDS),
            "bbox": ",".join(f"{v:.6f}" for v in self.bbox(lat, lon)),
            "limit": str(self.limit),
        }
        url = f"{self.base_url}/images?{urllib.parse.urlencode(params)}"
        return self.http.get(url, kind="search", what="Mapillary image search", check=self._check_search)

    def _check_search(self, response):
        data = _json_or_none(response)
        if response.status != 200:
            error = data.get("error") if isinstance(data, dict) else None
            error = error if isinstance(error, dict) else {}
            code = error.get("code")
            detail = self.http.scrub(
                f"HTTP {response.status}: {error.get('type', '')} {error.get('message', '')}".strip()
                + (f" (code {code})" if code is not None else "")
            )
            if response.status in (401, 403) or code in AUTH_ERROR_CODES:
                raise AuthError(ERR_DENIED.format(detail=detail))
            if code in RATE_LIMIT_CODES:
                raise Retry(detail, quota=True)
            raise ProviderError(f"Mapillary rejected the search ({detail})")
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise Retry("Mapillary search answer has no 'data' list")
        return [im for im in map(MapillaryImage.from_api, data["data"]) if im is not None]

    def find(self, lat, lon):
        return choose(self.search(lat, lon), lat, lon, max_angle_error=self.max_angle_error)

    def fetch(self, pick, heading=None):
        """Step 3. `heading` is unused: Mapillary views keep their own compass angles."""
        images = []
        for im in pick.images:
            if urllib.parse.urlsplit(im.thumb_url).scheme not in ("http", "https"):
                raise NoImagery(f"Mapillary image {im.id} has no usable thumbnail URL")
            data = self.http.get(
                im.thumb_url,
                kind="image",
                what=f"Mapillary image {im.id}",
                check=lambda r, im=im: self._check_image(r, im),
            )
            images.append(FetchedImage(heading=im.compass_angle, data=data))
        anchor = pick.images[0]
        return Capture(
            source=SOURCE,
            source_id=anchor.id,
            lat=anchor.lat,
            lon=anchor.lon,
            projection="equirectangular" if pick.is_pano else "perspective",
            images=tuple(images),
            captured_at=_date(anchor.captured_at),
            license=LICENSE,
            attribution=attribution_for(pick.images),
            image_ids=tuple(im.id for im in pick.images),
        )

    def _check_image(self, response, im):
        if response.status == 200:
            return response.body
        # Thumbnail URLs are signed and expire; a 4xx means this image cannot be had now.
        raise NoImagery(f"Mapillary image {im.id} answered HTTP {response.status}")


def _json_or_none(response):
    try:
        return response.json()
    except Retry:
        return None
