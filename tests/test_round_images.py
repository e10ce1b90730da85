"""geogame.game.round_images on its own: the crop plan, the renderings and the cache (no Django)."""

import io

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from geogame.game import round_images
from geogame.game.round_images import SERVED_SIZE, THUMB_SIZE, BytesLRU, plan, render, round_seed
from harness.fixture_map import make_image_bytes


@given(
    w=st.integers(64, 4000),
    h=st.integers(64, 4000),
    key=st.text(min_size=1, max_size=43),
    index=st.integers(0, 9),
)
def test_the_crop_lies_inside_the_view_at_the_served_aspect_ratio(w, h, key, index):
    p = plan(round_seed("secret", key, index), (w, h))
    left, top, right, bottom = p.box
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    assert abs((right - left) / (bottom - top) - SERVED_SIZE[0] / SERVED_SIZE[1]) < 1e-6
    full = min(w, h * SERVED_SIZE[0] / SERVED_SIZE[1])
    assert round_images.CROP_KEEP[0] <= (right - left) / full <= round_images.CROP_KEEP[1] + 1e-9
    assert round_images.DISPLAY_QUALITY[0] <= p.quality <= round_images.DISPLAY_QUALITY[1]


def test_renderings_are_deterministic_per_seed_differ_between_seeds_and_carry_no_metadata():
    source = make_image_bytes(size=(640, 480), seed=3, exif_text="Hameln 52.10,9.35")
    first = render(source, round_seed("secret", "round-a", 0))
    assert first == render(source, round_seed("secret", "round-a", 0))
    others = [render(source, round_seed(secret, key, i)) for secret, key, i in
              [("secret", "round-b", 0), ("secret", "round-a", 1), ("other", "round-a", 0)]]  # fmt: skip
    for other in others:
        assert other["image"] != first["image"] and other["thumb"] != first["thumb"]
    for kind, size in (("image", SERVED_SIZE), ("thumb", THUMB_SIZE)):
        with Image.open(io.BytesIO(first[kind])) as im:
            assert im.size == size and not im.getexif() and "icc_profile" not in im.info
        assert b"Hameln" not in first[kind]


def test_etags_name_the_round_never_the_photo():
    tags = {
        round_images.etag("s", key, i, kind)
        for key in ("a", "b")
        for i in (0, 1)
        for kind in ("image", "thumb")
    }
    assert len(tags) == 8
    assert round_images.etag("s", "a", 0, "image") == round_images.etag("s", "a", 0, "image")
    assert round_images.etag("s", "a", 0, "image") != round_images.etag("t", "a", 0, "image")


def test_a_busy_photo_is_encoded_lower_to_stay_within_its_budget():
    """A noisy photo over the display budget at its drawn quality is encoded again lower."""
    from geogame.maps.images import encode_jpeg

    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 180, 1024, dtype=np.float32)[None, :, None] * np.ones((640, 1, 3), np.float32)
    noisy = np.clip(gradient + rng.normal(0, 40, gradient.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noisy).save(buf, "JPEG", quality=95)
    source = buf.getvalue()
    seed = round_seed("secret", "busy", 0)
    p = plan(seed, (1024, 640))
    with Image.open(io.BytesIO(source)) as im:
        at_drawn_quality = encode_jpeg(
            im.convert("RGB").resize(SERVED_SIZE, Image.Resampling.BICUBIC, box=p.box),
            p.quality,
            compact=False,
        )
    assert len(at_drawn_quality) > round_images.DISPLAY_BUDGET  # the case this test is about
    out = render(source, seed)
    assert len(out["image"]) <= round_images.DISPLAY_BUDGET and len(out["thumb"]) <= round_images.THUMB_BUDGET


def test_the_cache_keeps_the_most_recent_within_its_byte_bound():
    cache = BytesLRU(10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # now the most recent
    cache.put("c", b"90ab")  # over 10 bytes: the least recent ("b") goes
    assert cache.get("b") is None and cache.get("a") == b"1234" and cache.get("c") == b"90ab"
    assert cache.size == 8 and len(cache) == 2
    cache.put("big", b"x" * 11)  # larger than the whole cache: not kept, nothing dropped
    assert cache.get("big") is None and len(cache) == 2
    cache.clear()
    assert cache.size == 0 and cache.get("a") is None
