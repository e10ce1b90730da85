"""Google Street View Static API: snap a point to a panorama, then fetch three 120-degree views.

1. Metadata (free, no quota): GET {base}/metadata?location=LAT,LNG&radius=M&source=outdoor&key=K
   answers JSON {status, pano_id, location{lat,lng}, date, copyright, error_message}.
2. Images (billed per request): GET {base}?pano=ID&size=WxH&heading=H&fov=120&pitch=0
   &source=outdoor&return_error_code=true&key=K at headings h, h+120 and h+240 (seed 003).
   return_error_code makes "no imagery" a 404 instead of a grey placeholder image.

Street View imagery is under Google's terms: it may not be redistributed, and each image is shown
with "© Google" and the copyright the metadata returned. Stdlib only; no Django.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass

from .common import AuthError, Capture, FetchedImage, NoImagery, ProviderError, QuotaExceeded, Retry

SOURCE = "streetview"
ENV_KEY = "GEOGAME_STREETVIEW_KEY"
DEFAULT_BASE_URL = "https://maps.googleapis.com/maps/api/streetview"
LICENSE = "Google Street View (Google Maps Platform terms)"
GOOGLE_CREDIT = "© Google"
VIEW_OFFSETS_DEG = (0.0, 120.0, 240.0)
DEFAULT_SIZE = (640, 640)
DEFAULT_FOV_DEG = 120.0
DEFAULT_RADIUS_M = 50

ERR_NO_KEY = "Street View needs an API key: set " + ENV_KEY
ERR_DENIED = "Street View refused the key in " + ENV_KEY + " ({detail})"
ERR_INVALID_REQUEST = "Street View says the request is invalid ({detail})"


@dataclass(frozen=True)
class Panorama:
    """What the metadata endpoint says about the panorama nearest a point."""

    pano_id: str
    lat: float
    lon: float
    date: str = ""
    copyright: str = ""

    source = SOURCE

    @property
    def source_id(self):
        return self.pano_id


def attribution_for(copyright):
    """'© Google', plus the photographer's copyright when the panorama is not Google's own."""
    copyright = (copyright or "").strip()
    if not copyright or copyright == GOOGLE_CREDIT:
        return GOOGLE_CREDIT
    return f"{GOOGLE_CREDIT}; {copyright}"


class StreetView:
    source = SOURCE

    def __init__(
        self,
        key,
        *,
        http,
        base_url=DEFAULT_BASE_URL,
        size=DEFAULT_SIZE,
        fov=DEFAULT_FOV_DEG,
        radius_m=DEFAULT_RADIUS_M,
    ):
        if not key:
            raise AuthError(ERR_NO_KEY)
        self._key = key
        self.http = http
        self.http.secrets.append(key)
        self.base_url = base_url.rstrip("/")
        self.size = size
        self.fov = fov
        self.radius_m = radius_m

    def _url(self, path, params):
        return f"{self.base_url}{path}?{urllib.parse.urlencode({**params, 'key': self._key})}"

    def find(self, lat, lon):
        """The panorama nearest (lat, lon) within radius_m, or None when there is none."""
        radius = str(int(math.ceil(self.radius_m)))
        location = f"{lat:.6f},{lon:.6f}"
        url = self._url("/metadata", {"location": location, "radius": radius, "source": "outdoor"})
        return self.http.get(url, kind="metadata", what="Street View metadata", check=self._check_metadata)

    def _check_metadata(self, response):
        if response.status in (401, 403):
            raise AuthError(self.http.scrub(ERR_DENIED.format(detail=f"HTTP {response.status}")))
        if response.status != 200:
            raise ProviderError(self.http.scrub(f"Street View metadata answered HTTP {response.status}"))
        data = response.json()
        status = data.get("status") if isinstance(data, dict) else None
        detail = self.http.scrub(f"{status}: {data.get('error_message', '')}".rstrip(": ")) if status else ""
        if status == "OK":
            try:
                location = data["location"]
                return Panorama(
                    pano_id=str(data["pano_id"]),
                    lat=float(location["lat"]),
                    lon=float(location["lng"]),
                    date=str(data.get("date") or ""),
                    copyright=str(data.get("copyright") or ""),
                )
            except (KeyError, TypeError, ValueError):
                raise Retry("Street View metadata OK without a pano_id and location") from None
        if status in ("ZERO_RESULTS", "NOT_FOUND"):
            return None
        if status == "OVER_QUERY_LIMIT":
            raise Retry(detail, quota=True)
        if status == "REQUEST_DENIED":
            raise AuthError(ERR_DENIED.format(detail=detail))
        if status == "INVALID_REQUEST":
            raise ProviderError(ERR_INVALID_REQUEST.format(detail=detail))
        if status == "UNKNOWN_ERROR":
            raise Retry(detail)
        raise ProviderError(self.http.scrub(f"Street View metadata answered an unknown status {status!r}"))

    def fetch(self, pano, heading):
        """The three views of `pano` at heading, heading + 120 and heading + 240."""
        images = []
        for offset in VIEW_OFFSETS_DEG:
            h = round((heading + offset) % 360.0, 2) % 360.0
            url = self._url(
                "",
                {
                    "pano": pano.pano_id,
                    "size": f"{self.size[0]}x{self.size[1]}",
                    "heading": f"{h:g}",
                    "fov": f"{self.fov:g}",
                    "pitch": "0",
                    "source": "outdoor",
                    "return_error_code": "true",
                },
            )
            data = self.http.get(
                url, kind="image", what=f"Street View image of {pano.pano_id}", check=self._check_image
            )
            images.append(FetchedImage(heading=h, data=data))
        return Capture(
            source=SOURCE,
            source_id=pano.pano_id,
            lat=pano.lat,
            lon=pano.lon,
            projection="perspective",
            images=tuple(images),
            captured_at=pano.date,
            license=LICENSE,
            attribution=attribution_for(pano.copyright),
            image_ids=(pano.pano_id,),
        )

    def _check_image(self, response):
        if response.status == 200:
            if response.content_type and not response.content_type.startswith("image/"):
                raise Retry(f"Street View image answered {response.content_type}, not an image")
            return response.body
        text = self.http.scrub(response.body[:300].decode("utf-8", "replace").strip())
        if response.status == 403 and "quota" in text.lower():
            # Over the daily quota the image endpoint answers 403 too: stop, resumable, not "bad key".
            raise QuotaExceeded(f"Street View image quota exceeded (HTTP 403: {text})")
        if response.status in (401, 403):
            raise AuthError(ERR_DENIED.format(detail=f"HTTP {response.status}: {text}"))
        if response.status == 404:
            raise NoImagery("Street View has no image for this panorama (HTTP 404)")
        raise ProviderError(self.http.scrub(f"Street View image answered HTTP {response.status}: {text}"))
