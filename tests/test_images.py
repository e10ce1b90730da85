import io

import pytest
from PIL import Image

from geogame.maps.images import ImageRejected, encode_jpeg, open_image, serving_variants
from harness.fixture_map import make_image_bytes

LIMITS = dict(max_bytes=5_000_000, max_pixels=20_000_000)


def test_a_photo_is_decoded_upright_and_reencoded_without_metadata():
    data = make_image_bytes(size=(400, 300), exif_text="Stuttgart 48.7758,9.1829")
    assert b"Stuttgart" in data
    im = open_image(data, **LIMITS)
    out = encode_jpeg(im)
    assert b"Stuttgart" not in out and b"SecretCam" not in out and b"Exif" not in out
    again = Image.open(io.BytesIO(out))
    assert again.size == (400, 300)
    assert not again.getexif()


def test_exif_orientation_is_applied():
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    Image.new("RGB", (200, 100)).save(buf, format="JPEG", exif=exif.tobytes())
    assert open_image(buf.getvalue(), **LIMITS).size == (100, 200)


def test_serving_variants_are_bounded():
    im = open_image(make_image_bytes(size=(2048, 1024)), **LIMITS)
    display, thumb = serving_variants(im)
    assert max(Image.open(io.BytesIO(display)).size) == 1024
    assert max(Image.open(io.BytesIO(thumb)).size) == 256


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"this is a text file, not an image", "not an image"),
        (b"%PDF-1.4 fake pdf", "not an image"),
        (make_image_bytes()[:400], "corrupt or truncated"),
        (make_image_bytes(fmt="GIF"), "format GIF is not accepted"),
        (make_image_bytes(size=(40, 300)), "at least 64 px"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(data, message):
    with pytest.raises(ImageRejected, match=message):
        open_image(data, **LIMITS)


def test_a_file_over_the_byte_limit_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match="limit is 100"):
        open_image(make_image_bytes(), max_bytes=100, max_pixels=10**9)


def test_a_decompression_bomb_is_refused_before_decoding():
    # 20000 x 20000 px of one colour compresses to a few hundred kB of PNG.
    buf = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 1_000_000
    with pytest.raises(ImageRejected, match="decompression bomb"):
        open_image(buf.getvalue(), **LIMITS)


def test_an_image_over_our_pixel_limit_is_refused_before_decoding():
    buf = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buf, format="PNG")
    with pytest.raises(ImageRejected, match="5000x5000 = 25000000 pixels; the limit is 20000000"):
        open_image(buf.getvalue(), **LIMITS)
