"""Image intake and serving variants. Pillow only; no Django.

Every image a player can see passes through here: it is decoded under size
limits (decompression bombs are refused before decoding), turned upright from
its EXIF orientation, and re-encoded as a fresh JPEG that carries no metadata.
"""

import hashlib
import io
import math
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
MIN_SIDE = 64
DISPLAY_LONG_SIDE = 1024
THUMB_LONG_SIDE = 256


class ImageRejected(ValueError):
    pass


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class ImageTooLarge(ImageRejected):
    """Over a size limit (bytes or pixels): the upload, not its content, is refused (HTTP 413)."""


def open_image(data, *, max_bytes, max_pixels, long_side=None, max_decoded_pixels=None):
    """Decode bytes into an upright RGB image or raise ImageRejected with the reason.

    With `long_side` (uploads), the image comes back no larger than that on its longer side and
    is decoded reduced where the format allows: a JPEG is decoded at 1/2 to 1/8 scale in draft
    mode (DCT scaling), so a 48 Mpx photo costs about 3 Mpx of memory, not 48. PNG and WebP
    cannot be decoded reduced: they are decoded whole, reduced at once and the full-size copy
    dropped. `max_decoded_pixels` bounds what is actually decoded (full size for PNG/WebP, the
    draft size for JPEG): the memory one upload can cost."""
    if len(data) == 0:
        raise ImageRejected("file is empty")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"file is {len(data)} bytes; the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in ACCEPTED_FORMATS:
                raise ImageRejected(f"format {im.format} is not accepted (JPEG, PNG or WebP)")
            w, h = im.size
            if w * h > max_pixels:
                raise ImageTooLarge(f"image is {w}x{h} = {w * h} pixels; the limit is {max_pixels}")
            if long_side is not None and im.format == "JPEG" and max(w, h) > long_side:
                scale = long_side / max(w, h)
                im.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))  # never below the target
            dw, dh = im.size
            if max_decoded_pixels is not None and dw * dh > max_decoded_pixels:
                raise ImageTooLarge(
                    f"image is {w}x{h} = {w * h} pixels; an upload may decode to at most "
                    f"{max_decoded_pixels} pixels (JPEG photos are decoded reduced, so larger ones pass)"
                )
            im.load()
            if long_side is not None and max(im.size) > long_side:
                if im.mode not in ("RGB", "RGBA", "L", "LA"):  # palette and 16-bit modes cannot be reduced
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                # In place (the EXIF orientation stays with it); the full-size pixels are let go.
                im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not an image (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("image is too large to decode safely (decompression bomb)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"image is corrupt or truncated ({exc})") from None
    if min(w, h) < MIN_SIDE:
        raise ImageRejected(f"image is {w}x{h}; both sides must be at least {MIN_SIDE} px")
    return ImageOps.exif_transpose(im).convert("RGB")


GPS_IFD = 0x8825


def exif_gps(data):
    """(lat, lon) in degrees from the image's EXIF GPS tags, or None when it has none or they
    are unreadable. Give it the bytes as uploaded, after open_image accepted them: what
    open_image returns, and everything encode_jpeg writes, carries no EXIF."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            gps = im.getexif().get_ifd(GPS_IFD)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        return None
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return lat, lon


def _degrees(dms, ref, negative):
    """Degrees from EXIF's (degrees, minutes, seconds) rationals; None if malformed."""
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if not math.isfinite(value):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -value if str(ref).strip().upper() == negative else value


def fit_within(im, long_side):
    """A copy no larger than long_side on its longer side (never enlarged)."""
    im = im.copy()
    im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return im


def encode_jpeg(im, quality=88, *, compact=True):
    """JPEG bytes with no EXIF, ICC, XMP or comments: only pixels. `compact`: optimised Huffman
    tables and progressive scans, about 4% smaller and 3-4 times slower to encode (per-round
    renderings, geogame.game.round_images, go without)."""
    clean = Image.new("RGB", im.size)
    clean.paste(im.convert("RGB"))
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=quality, optimize=compact, progressive=compact)
    return buf.getvalue()


def serving_variants(im):
    """(display_jpeg, thumb_jpeg) for an upright RGB image."""
    return encode_jpeg(fit_within(im, DISPLAY_LONG_SIDE)), encode_jpeg(fit_within(im, THUMB_LONG_SIDE), 80)
