"""The bytes a player gets for a view: one rendering per round. Pillow only; no Django.

A stored view (geogame.maps.images) would give a place a stable identity: the same bytes, size and
hash in every game, so a table built from throwaway games answers later rounds. Each round
therefore serves its own rendering of each view: a small random crop taken at the one served
aspect ratio, scaled to the one served size (SERVED_SIZE, THUMB_SIZE: the same for every view of
every map, so a photo's shape names nothing), and encoded as a metadata-free JPEG at a jittered
quality. The randomness is seeded from a server secret, the round's image_key and the view index,
so a reload gets the same bytes while two games that show the same place get different ones.

A place's 360-degree panorama (the pannable view a map may offer, Map.panorama_view) gets the
same treatment in the one way a panorama allows: turned round by a random angle (its columns
rolled), scaled to PANORAMA_SIZE and encoded at a jittered quality within PANORAMA_BUDGET.

Never flipped or colour-shifted: the side of the road and the light are clues a player is meant to
read. A perceptual hash still matches two renderings of one photo (README "Anti-cheat").
"""

import hashlib
import hmac
import io
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from geogame.maps.images import encode_jpeg

SERVED_SIZE = (1024, 640)
THUMB_SIZE = (256, 160)
# Fraction of the largest box of the served aspect ratio that fits the stored view, per side.
CROP_KEEP = (0.88, 0.97)
DISPLAY_QUALITY = (64, 80)
THUMB_QUALITY = (60, 76)
# A busy photo encoded over its budget is encoded again QUALITY_STEP lower (not below MIN_QUALITY),
# so that a three-view round with its thumbnails stays under 450 KB (bench/round_images.py).
DISPLAY_BUDGET, THUMB_BUDGET = 135_000, 12_000
QUALITY_STEP, MIN_QUALITY = 8, 30
# Part of every seed and ETag: raise it when the rendering changes, so no cache holds old bytes.
RENDER_VERSION = 2
DISPLAY, THUMB = "image", "thumb"
PANORAMA = "panorama"
# The served panorama: 2:1 like every equirectangular one, 11.25 pixels a degree (about what the
# 1024-pixel view gives its field of view); bounded in pixels and bytes.
PANORAMA_SIZE = (4096 // 2, 2048 // 2)
PANORAMA_QUALITY = (62, 78)
PANORAMA_BUDGET = 450_000


@dataclass(frozen=True)
class Plan:
    """How one round renders one view: the crop box in source pixels and the JPEG qualities."""

    box: tuple[float, float, float, float]
    quality: int
    thumb_quality: int


def round_seed(secret: str, image_key: str, index: int) -> bytes:
    """The seed of a round's rendering of view `index`; unguessable without the secret."""
    message = f"round-image:{RENDER_VERSION}:{image_key}:{index}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def etag(secret: str, image_key: str, index: int, kind: str) -> str:
    """A per-round ETag (quoted): it names the round's rendering, never the photo."""
    message = f"round-image-etag:{RENDER_VERSION}:{image_key}:{index}:{kind}".encode()
    return '"' + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32] + '"'


def plan(seed: bytes, source_size: tuple[int, int]) -> Plan:
    """The crop and qualities for `seed` on a source of `source_size` (width, height)."""
    rng = random.Random(seed)
    w, h = source_size
    aspect = SERVED_SIZE[0] / SERVED_SIZE[1]
    # The largest box of the served aspect inside the source, then a random fraction of it.
    full_w, full_h = (w, w / aspect) if w / h <= aspect else (h * aspect, h)
    keep = rng.uniform(*CROP_KEEP)
    cw, ch = full_w * keep, full_h * keep
    left, top = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    return Plan(
        box=(left, top, min(w, left + cw), min(h, top + ch)),  # Pillow refuses a box past the edge
        quality=rng.randint(*DISPLAY_QUALITY),
        thumb_quality=rng.randint(*THUMB_QUALITY),
    )


def render(source: bytes, seed: bytes) -> dict[str, bytes]:
    """{DISPLAY: jpeg, THUMB: jpeg} of a stored view for one round: both from the same crop, so
    the thumbnail shows what the view shows. Deterministic for a given source and seed."""
    with Image.open(io.BytesIO(source)) as im:
        im = im.convert("RGB")
    p = plan(seed, im.size)
    display = im.resize(SERVED_SIZE, Image.Resampling.BICUBIC, box=p.box)
    # The thumbnail from the display (a 4x4 box average): the same crop, a quarter of the resize's CPU.
    thumb = display.reduce(SERVED_SIZE[0] // THUMB_SIZE[0])
    return {
        DISPLAY: _encode_within(display, p.quality, DISPLAY_BUDGET),
        THUMB: _encode_within(thumb, p.thumb_quality, THUMB_BUDGET),
    }


def render_panorama(source: bytes, seed: bytes) -> bytes:
    """A round's rendering of a stored equirectangular panorama: PANORAMA_SIZE, its columns rolled
    by a random share of the width (the same scene, turned round; where the viewer first looks says
    nothing), a metadata-free JPEG at a jittered quality. Deterministic for a given source and seed."""
    rng = random.Random(seed + b"panorama")
    with Image.open(io.BytesIO(source)) as im:
        im = im.convert("RGB").resize(PANORAMA_SIZE, Image.Resampling.BICUBIC)
    shift = rng.randrange(1, PANORAMA_SIZE[0])
    turned = Image.new("RGB", PANORAMA_SIZE)
    turned.paste(im.crop((shift, 0, PANORAMA_SIZE[0], PANORAMA_SIZE[1])), (0, 0))
    turned.paste(im.crop((0, 0, shift, PANORAMA_SIZE[1])), (PANORAMA_SIZE[0] - shift, 0))
    return _encode_within(turned, rng.randint(*PANORAMA_QUALITY), PANORAMA_BUDGET)


def _encode_within(im, quality, budget):
    data = encode_jpeg(im, quality, compact=False)
    while len(data) > budget and quality > MIN_QUALITY:
        quality = max(MIN_QUALITY, quality - QUALITY_STEP)
        data = encode_jpeg(im, quality, compact=False)
    return data


class BytesLRU:
    """A thread-safe least-recently-used map from keys to bytes, bounded by its total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value: bytes):
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = value
            self._size += len(value)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self):
        with self._lock:
            self._items.clear()
            self._size = 0

    @property
    def size(self):
        return self._size

    def __len__(self):
        return len(self._items)
