"""A fake Google Street View Static API and Mapillary API v4 on loopback, for the builder's tests.

One ThreadingHTTPServer on 127.0.0.1 (port 0) answers, in the real request and response formats:

  /maps/api/streetview/metadata   JSON {status, pano_id, location{lat,lng}, date, copyright, error_message}
  /maps/api/streetview            a JPEG (with EXIF, which the builder must strip), or an error text
  /images                         Mapillary image search: {data: [...]}, errors {error: {message, type, code}}
  /thumbs/<id>.jpg                a Mapillary image's bytes (the thumb_2048_url of the search answer)

Street View panoramas sit on a lattice of `lattice_deg` degrees: a point snaps to its nearest node
(so nearby points share a panorama), unless `covered(lat, lon)` says there is no imagery there.
Mapillary images are whatever a test adds with `add_mapillary_image`.

Faults, per endpoint ("metadata", "image", "search", "thumb"), are queued in `faults[endpoint]`
and used up one per request: "http500", "http503", "http429", "http404", "slow" (answer after
`slow_s`, then normally), "truncate" (send half the body under the full Content-Length, then
close), "corrupt" (a body that is not a whole image), and for metadata "ZERO_RESULTS",
"OVER_QUERY_LIMIT", "UNKNOWN_ERROR". `quota[provider]` is how many more requests the provider
answers before it says the quota is exceeded (None: no limit). Every request is recorded.
"""

import hashlib
import io
import json
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

STREETVIEW_KEY = "AIzaFAKE-test-key-0123456789"
MAPILLARY_TOKEN = "MLY|4242|fake-token-abcdef"
SV_PATH = "/maps/api/streetview"
DENIED_KEY_MESSAGE = "The provided API key is invalid. "
SV_IMAGE_DENIED = "The Google Maps Platform server rejected your request. The provided API key is invalid."
SV_QUOTA_MESSAGE = "You have exceeded your daily request quota for this API."
SV_IMAGE_QUOTA = "The Google Maps Platform server rejected your request. " + SV_QUOTA_MESSAGE
MLY_BAD_TOKEN = {
    "message": "Invalid OAuth access token - Cannot parse access token",
    "type": "OAuthException",
    "code": 190,
    "fbtrace_id": "AfakeTrace",
}
MLY_RATE_LIMITED = {
    "message": "Application request limit reached",
    "type": "OAuthException",
    "code": 4,
    "fbtrace_id": "AfakeTrace",
}
MLY_FIELDS = {
    "id",
    "geometry",
    "compass_angle",
    "is_pano",
    "sequence",
    "creator",
    "captured_at",
    "thumb_2048_url",
}
MAX_SLOW_S = 2.0


def jpeg_bytes(size, seed, *, exif=True):
    """A noisy JPEG (so it compresses like a photo); with EXIF GPS tags like a phone photo."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.uniform(40, 220, 3)
    arr = np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    kwargs = {}
    if exif:
        e = Image.Exif()
        e[0x010F] = "FakeStreetCam"
        gps = e.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 46.0, 33.0), "E", (9.0, 10.0, 58.0)
        kwargs["exif"] = e.tobytes()
    Image.fromarray(arr).save(buf, format="JPEG", quality=80, **kwargs)
    return buf.getvalue()


def _seed(*parts):
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


class FakeGeoApis(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests = []  # (endpoint, params) in arrival order
        self.keys = {STREETVIEW_KEY}
        self.tokens = {MAPILLARY_TOKEN}
        self.lattice_deg = 0.002
        self.covered = lambda lat, lon: True
        self.copyright = "© Google"
        self.date = "2019-05"
        self.faults = defaultdict(deque)
        self.slow_s = 0.5
        self.quota = {"streetview": None, "mapillary": None}
        self.mapillary_images = []
        self.thumbs = {}

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def streetview_url(self):
        return self.base_url + SV_PATH

    def count(self, endpoint):
        with self.lock:
            return sum(1 for e, _ in self.requests if e == endpoint)

    def params(self, endpoint):
        with self.lock:
            return [p for e, p in self.requests if e == endpoint]

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up is part of the tests

    # -- the worlds --

    def pano_at(self, lat, lon):
        """(pano_id, lat, lon) of the lattice node nearest the point."""
        i, j = round(lat / self.lattice_deg), round(lon / self.lattice_deg)
        return f"pano_{i}_{j}".replace("-", "m"), i * self.lattice_deg, j * self.lattice_deg

    def add_mapillary_image(
        self,
        image_id,
        lat,
        lon,
        compass_angle,
        *,
        is_pano=False,
        sequence="seq-1",
        creator="alice",
        captured_at=1_600_000_000_000,
        size=None,
        data=None,
    ):
        size = size or ((512, 256) if is_pano else (320, 240))
        self.mapillary_images.append(
            {
                "id": str(image_id),
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "compass_angle": compass_angle,
                "is_pano": is_pano,
                "sequence": sequence,
                "creator": {"username": creator, "id": "1000" + str(image_id)},
                "captured_at": captured_at,
            }
        )
        self.thumbs[str(image_id)] = data if data is not None else jpeg_bytes(size, _seed("mly", image_id))


class _Handler(BaseHTTPRequestHandler):
    server: FakeGeoApis

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path == SV_PATH + "/metadata":
            endpoint, provider = "metadata", "streetview"
        elif url.path == SV_PATH:
            endpoint, provider = "image", "streetview"
        elif url.path == "/images":
            endpoint, provider = "search", "mapillary"
        elif url.path.startswith("/thumbs/"):
            endpoint, provider = "thumb", "mapillary"
        else:
            return self._send(404, b"not found", "text/plain")
        srv = self.server
        with srv.lock:
            srv.requests.append((endpoint, params))
            fault = srv.faults[endpoint].popleft() if srv.faults[endpoint] else None
            over_quota = srv.quota[provider] is not None and srv.quota[provider] <= 0
            if srv.quota[provider] is not None and not over_quota:
                srv.quota[provider] -= 1
        if fault == "slow":
            time.sleep(min(srv.slow_s, MAX_SLOW_S))
            fault = None
        if fault in ("http500", "http503", "http404"):
            return self._send(int(fault[4:]), b"<html>Server Error</html>", "text/html")
        getattr(self, f"_{endpoint}")(params, fault, over_quota)

    # -- Street View --

    def _metadata(self, params, fault, over_quota):
        srv = self.server
        if params.get("key") not in srv.keys:
            return self._json(200, {"error_message": DENIED_KEY_MESSAGE, "status": "REQUEST_DENIED"})
        if over_quota or fault == "OVER_QUERY_LIMIT":
            return self._json(200, {"error_message": SV_QUOTA_MESSAGE, "status": "OVER_QUERY_LIMIT"})
        if fault == "http429":
            return self._send(429, b"Too Many Requests", "text/plain")
        if fault in ("ZERO_RESULTS", "UNKNOWN_ERROR"):
            return self._json(200, {"status": fault})
        try:
            lat, lon = (float(v) for v in params["location"].split(","))
            int(params.get("radius", "50"))
            assert params.get("source", "default") in ("default", "outdoor")
        except (KeyError, ValueError, AssertionError):
            return self._json(200, {"status": "INVALID_REQUEST"})
        if not srv.covered(lat, lon):
            return self._json(200, {"status": "ZERO_RESULTS"})
        pano_id, plat, plon = srv.pano_at(lat, lon)
        body = {
            "copyright": srv.copyright,
            "date": srv.date,
            "location": {"lat": plat, "lng": plon},
            "pano_id": pano_id,
            "status": "OK",
        }
        if fault == "truncate":
            return self._send(200, json.dumps(body).encode(), "application/json", cut=True)
        return self._json(200, body)

    def _image(self, params, fault, over_quota):
        srv = self.server
        if params.get("key") not in srv.keys:
            return self._send(403, SV_IMAGE_DENIED.encode(), "text/plain")
        if over_quota:
            return self._send(403, SV_IMAGE_QUOTA.encode(), "text/plain")
        if fault == "http429":
            return self._send(429, b"Too Many Requests", "text/plain")
        try:
            w, h = (int(v) for v in params["size"].split("x"))
            heading, fov, pitch = float(params["heading"]), float(params["fov"]), float(params["pitch"])
            assert 1 <= w <= 640 and 1 <= h <= 640 and 0 <= heading <= 360 and 10 <= fov <= 120
            assert -90 <= pitch <= 90 and params["pano"]
        except (KeyError, ValueError, AssertionError):
            return self._send(
                400, b"Invalid request. Invalid 'size', 'heading', 'fov', 'pitch' or 'pano'.", "text/plain"
            )
        data = jpeg_bytes((w, h), _seed(params["pano"], heading))
        self._image_body(data, fault)

    # -- Mapillary --

    def _search(self, params, fault, over_quota):
        srv = self.server
        if params.get("access_token") not in srv.tokens:
            return self._json(401, {"error": MLY_BAD_TOKEN})
        if over_quota or fault == "http429":
            return self._json(429, {"error": MLY_RATE_LIMITED})
        try:
            fields = params["fields"].split(",")
            assert fields and set(fields) <= MLY_FIELDS
            min_lon, min_lat, max_lon, max_lat = (float(v) for v in params["bbox"].split(","))
            assert min_lon < max_lon and min_lat < max_lat
            limit = int(params.get("limit", "2000"))
            assert 1 <= limit <= 2000
        except (KeyError, ValueError, AssertionError):
            return self._json(
                400,
                {
                    "error": {
                        "message": "Invalid parameter",
                        "type": "GraphMethodException",
                        "code": 100,
                        "fbtrace_id": "AfakeTrace",
                    }
                },
            )
        data = []
        for im in srv.mapillary_images:
            lon, lat = im["geometry"]["coordinates"]
            if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
                full = {**im, "thumb_2048_url": f"{srv.base_url}/thumbs/{im['id']}.jpg"}
                data.append({k: v for k, v in full.items() if k in fields})
        body = json.dumps({"data": data[:limit]}).encode()
        self._send(200, body, "application/json", cut=fault == "truncate")

    def _thumb(self, params, fault, over_quota):
        image_id = self.path.split("/thumbs/")[1].split(".")[0].split("?")[0]
        data = self.server.thumbs.get(image_id)
        if data is None:
            return self._send(404, b"", "text/plain")
        self._image_body(data, fault)

    # -- sending --

    def _image_body(self, data, fault):
        if fault == "corrupt":
            return self._send(200, data[: len(data) // 2], "image/jpeg")
        self._send(200, data, "image/jpeg", cut=fault == "truncate")

    def _json(self, status, body):
        self._send(status, json.dumps(body).encode(), "application/json; charset=UTF-8")

    def _send(self, status, body, content_type, *, cut=False):
        """Send the response; `cut` sends half the body under the full Content-Length and hangs up."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if cut else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a deliberate timeout)
        self.close_connection = True


def start():
    """Start a server in a thread; returns (server, stop)."""
    server = FakeGeoApis()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join()

    return server, stop
