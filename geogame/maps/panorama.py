"""Perspective views cut out of equirectangular 360-degree panoramas.

A round shows a location the way the seed papers did with the Street View Static API: three square
640x640 views at headings h, h+120 and h+240, each with a 120 degree horizontal field of view.
This module renders those views from a stored equirectangular panorama. It is pure numpy + Pillow
(no Django), so the import command, the web process and the tests can all use it.

Conventions (all angles in degrees):

* Panorama: an (H, W, C) or (H, W) array covering 360 degrees of longitude and 180 of latitude.
  Its centre column looks along the camera heading. Pixel column x covers longitude
  ((x + 0.5) / W) * 360 - 180 relative to that heading (clockwise of it is positive, to the right in
  the image); row y covers latitude 90 - ((y + 0.5) / H) * 180 (up is positive).
* View: a pinhole camera. ``yaw_deg`` is relative to the panorama's centre column and increases
  clockwise, like a compass heading (to the right in the image); ``pitch_deg`` is positive when
  looking up. ``fov_deg`` is the horizontal field of view measured between the outer edges of the
  outer pixels; the vertical one follows from the aspect ratio. ``size`` is (width, height), as in
  Pillow and the Street View API's "640x640".
* Sampling: bilinear between pixel centres, wrapping around horizontally at the panorama seam and
  clamping at the top and bottom rows (the poles).

Speed (measured once, on the 2-core AMD EPYC dev box): a 640x640 view of a 4096x2048 RGB uint8
panorama takes about 80 ms (~16 ms ray geometry, ~65 ms sampling); ``render_three_views`` on a
4096x2048 PIL image about 0.22-0.42 s, the rest being Pillow's copy of the image into numpy.
    .venv/bin/python -m timeit -s "import numpy as np; from geogame.maps.panorama import render_view; \
        p = np.random.default_rng(0).integers(0, 256, (2048, 4096, 3), dtype=np.uint8)" \
        "render_view(p, 120.0)"
"""

from __future__ import annotations

import math
import operator

import numpy as np
from PIL import Image

VIEW_OFFSETS_DEG = (0.0, 120.0, 240.0)
DEFAULT_FOV_DEG = 120.0
DEFAULT_SIZE = (640, 640)

# How far width / height may stray from 2, relative to 2. Real panoramas are exactly 2:1
# (4096x2048, 13312x6656); the slack only forgives an off-by-a-few-rows export.
EQUIRECTANGULAR_ASPECT_TOLERANCE = 0.01

# Error messages, as constants so that tests (and callers) can reuse them.
FOV_OUT_OF_RANGE = "fov_deg must be in (0, 180) degrees, got {fov!r}"
PITCH_OUT_OF_RANGE = "pitch_deg must be in [-90, 90] degrees, got {pitch!r}"
YAW_NOT_FINITE = "yaw_deg must be a finite number, got {yaw!r}"
SIZE_NOT_POSITIVE = "size must be (width, height) with two positive integers, got {size!r}"
PANO_BAD_SHAPE = "pano must be an array of shape (H, W, C) or (H, W) with H, W, C >= 1, got shape {shape}"
PANO_BAD_DTYPE = "pano must hold real numbers (uint8 or float), got dtype {dtype}"
NOT_EQUIRECTANGULAR = (
    "image is {width}x{height} (aspect {aspect:.3f}); "
    "an equirectangular panorama must be 2:1 (width = 2 * height)"
)


# -- Checks -----------------------------------------------------------------------------------------


def looks_equirectangular(
    width: int, height: int, *, tolerance: float = EQUIRECTANGULAR_ASPECT_TOLERANCE
) -> bool:
    """Whether an image of this size can be an equirectangular panorama (aspect ratio 2:1)."""
    if width <= 0 or height <= 0:
        return False
    return abs(width / height - 2.0) <= 2.0 * tolerance


def check_equirectangular(width: int, height: int) -> None:
    """Raise ValueError with a reason an importer can show when the size is not 2:1."""
    if not looks_equirectangular(width, height):
        aspect = width / height if height > 0 else float("inf")
        raise ValueError(NOT_EQUIRECTANGULAR.format(width=width, height=height, aspect=aspect))


def absolute_heading(pano_heading: float, offset: float) -> float:
    """Compass heading of a view: the panorama's heading plus the view's offset, in [0, 360)."""
    heading = (pano_heading + offset) % 360.0
    # A tiny negative sum rounds to exactly 360.0 under %, which is not in [0, 360).
    return 0.0 if heading >= 360.0 else heading


def _check_fov(fov_deg: float) -> float:
    fov = float(fov_deg)
    if not 0.0 < fov < 180.0:  # also rejects NaN
        raise ValueError(FOV_OUT_OF_RANGE.format(fov=fov_deg))
    return fov


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = size
        width, height = operator.index(width), operator.index(height)
    except (TypeError, ValueError):
        raise ValueError(SIZE_NOT_POSITIVE.format(size=size)) from None
    if width <= 0 or height <= 0 or isinstance(size[0], bool) or isinstance(size[1], bool):
        raise ValueError(SIZE_NOT_POSITIVE.format(size=size))
    return width, height


def _check_pano(pano: np.ndarray) -> np.ndarray:
    pano = np.asarray(pano)
    if pano.ndim not in (2, 3) or 0 in pano.shape:
        raise ValueError(PANO_BAD_SHAPE.format(shape=pano.shape))
    if pano.dtype == np.bool_ or not (
        np.issubdtype(pano.dtype, np.integer) or np.issubdtype(pano.dtype, np.floating)
    ):
        raise ValueError(PANO_BAD_DTYPE.format(dtype=pano.dtype))
    return pano


# -- Geometry and sampling --------------------------------------------------------------------------


def view_lonlat(
    *, yaw_deg: float, pitch_deg: float, fov_deg: float, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, relative to the panorama heading) of each view pixel centre.

    Returns two float64 arrays of shape (height, width); longitude is in [-180, 180].

    1. Build the ray through each pixel centre in camera coordinates (right, up, forward), with
       the focal length chosen so that the outer pixel edges lie at +-fov/2.
    2. Pitch: rotate about the right axis (positive looks up).
    3. Yaw: rotate about the up axis (positive turns right, i.e. clockwise seen from above).
    4. Longitude is the angle from forward towards right; latitude the angle above the horizon.
    """
    yaw = float(yaw_deg)
    if not math.isfinite(yaw):
        raise ValueError(YAW_NOT_FINITE.format(yaw=yaw_deg))
    pitch = float(pitch_deg)
    if not -90.0 <= pitch <= 90.0:  # also rejects NaN
        raise ValueError(PITCH_OUT_OF_RANGE.format(pitch=pitch_deg))
    fov = _check_fov(fov_deg)
    width, height = _check_size(size)

    focal = (width / 2.0) / math.tan(math.radians(fov) / 2.0)
    right = np.arange(width, dtype=np.float64) + 0.5 - width / 2.0  # (width,)
    up = height / 2.0 - (np.arange(height, dtype=np.float64) + 0.5)  # (height,)

    p, y = math.radians(pitch), math.radians(yaw)
    cos_p, sin_p, cos_y, sin_y = math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    # After pitching, the right component is unchanged; up and forward depend on the row only.
    up_p = up * cos_p + focal * sin_p  # (height,)
    fwd_p = focal * cos_p - up * sin_p  # (height,)
    east = right[None, :] * cos_y + fwd_p[:, None] * sin_y  # (height, width)
    north = fwd_p[:, None] * cos_y - right[None, :] * sin_y
    lon = np.degrees(np.arctan2(east, north))
    lat = np.degrees(np.arctan2(np.broadcast_to(up_p[:, None], east.shape), np.hypot(east, north)))
    return lon, lat


def sample_equirect(pano: np.ndarray, lon_deg: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """Bilinearly sample ``pano`` at the given longitudes/latitudes (degrees, same shape).

    Returns float32 values of shape lon_deg.shape + (C,), or lon_deg.shape for an (H, W) pano.
    Columns wrap around at the seam (longitude +-180); rows clamp at the poles.
    """
    pano = _check_pano(pano)
    pano_h, pano_w = pano.shape[:2]
    channels = pano.reshape(pano_h * pano_w, -1)  # (H*W, C), a view for contiguous input

    # Continuous pixel coordinates in which integer values are pixel centres.
    u = (np.asarray(lon_deg, dtype=np.float64) + 180.0) * (pano_w / 360.0) - 0.5
    v = (90.0 - np.asarray(lat_deg, dtype=np.float64)) * (pano_h / 180.0) - 0.5
    u0, v0 = np.floor(u), np.floor(v)
    fx = (u - u0).astype(np.float32).reshape(-1, 1)
    fy = (v - v0).astype(np.float32).reshape(-1, 1)
    x0 = np.mod(u0.astype(np.intp), pano_w).reshape(-1)
    x1 = np.mod(x0 + 1, pano_w)
    y0 = v0.astype(np.intp).reshape(-1)
    y1 = np.clip(y0 + 1, 0, pano_h - 1) * pano_w
    y0 = np.clip(y0, 0, pano_h - 1) * pano_w

    top = channels[y0 + x0].astype(np.float32) * (1.0 - fx) + channels[y0 + x1].astype(np.float32) * fx
    bottom = channels[y1 + x0].astype(np.float32) * (1.0 - fx) + channels[y1 + x1].astype(np.float32) * fx
    out = top * (1.0 - fy) + bottom * fy
    return out.reshape(np.shape(lon_deg) + pano.shape[2:])


# -- Views ------------------------------------------------------------------------------------------


def render_view(
    pano: np.ndarray,
    yaw_deg: float,
    pitch_deg: float = 0.0,
    fov_deg: float = DEFAULT_FOV_DEG,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> np.ndarray:
    """Render a pinhole view of an equirectangular panorama as a uint8 array.

    ``pano`` is (H, W, C) or (H, W), uint8 or float on the 0..255 scale (floats are rounded and
    clipped). The result is (height, width, C), or (height, width) for an (H, W) pano, with
    ``size = (width, height)``. See the module docstring for the angle conventions.
    """
    pano = _check_pano(pano)
    lon, lat = view_lonlat(yaw_deg=yaw_deg, pitch_deg=pitch_deg, fov_deg=fov_deg, size=size)
    values = sample_equirect(pano, lon, lat)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def render_three_views(
    image: Image.Image, size: tuple[int, int] = DEFAULT_SIZE, fov_deg: float = DEFAULT_FOV_DEG
) -> list[tuple[float, Image.Image]]:
    """The round's three level views of a panorama: (relative yaw, RGB image) per VIEW_OFFSETS_DEG.

    The yaw is relative to the panorama's centre column; add the panorama's compass heading with
    ``absolute_heading`` to get each view's heading. The image is not checked for a 2:1 aspect
    ratio here; importers reject such rows with ``check_equirectangular``.
    """
    # convert() copies even an RGB image, and a 4096x2048 copy costs about as much as a view.
    pano = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return [
        (offset, Image.fromarray(render_view(pano, offset, 0.0, fov_deg, size)))
        for offset in VIEW_OFFSETS_DEG
    ]
