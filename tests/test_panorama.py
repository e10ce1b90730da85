"""Tests for geogame.maps.panorama on synthetic panoramas whose views can be computed independently.

The expected values come from the test's own ray math (camera basis vectors in east/north/up
coordinates), not from the module's rotations, so a sign or axis mistake in either shows up.
"""

import math
import re

import numpy as np
import pytest
from PIL import Image

from geogame.maps import panorama
from geogame.maps.panorama import (
    FOV_OUT_OF_RANGE,
    NOT_EQUIRECTANGULAR,
    PANO_BAD_DTYPE,
    PANO_BAD_SHAPE,
    PITCH_OUT_OF_RANGE,
    SIZE_NOT_POSITIVE,
    VIEW_OFFSETS_DEG,
    YAW_NOT_FINITE,
    absolute_heading,
    check_equirectangular,
    looks_equirectangular,
    render_three_views,
    render_view,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# uint8 output: rounding alone may be off by half a unit.
ROUNDING = 0.5


# -- Helpers: synthetic panoramas and independent ray math -------------------------------------------


def pano_lonlat(height, width):
    """Longitude and latitude (degrees) of each panorama pixel centre, each of shape (H, W)."""
    lon = ((np.arange(width) + 0.5) / width) * 360.0 - 180.0
    lat = 90.0 - ((np.arange(height) + 0.5) / height) * 180.0
    return np.meshgrid(lon, lat)


def expected_lonlat(yaw, pitch, fov, size, rows, cols):
    """Longitude/latitude seen by view pixels (rows, cols), from camera basis vectors in (E, N, U)."""
    width, height = size
    rows, cols = np.asarray(rows, dtype=float), np.asarray(cols, dtype=float)
    y, p = math.radians(yaw), math.radians(pitch)
    forward = np.array([math.cos(p) * math.sin(y), math.cos(p) * math.cos(y), math.sin(p)])
    right = np.array([math.cos(y), -math.sin(y), 0.0])
    up = np.cross(right, forward)
    focal = (width / 2) / math.tan(math.radians(fov) / 2)
    ray = (
        focal * forward
        + (cols + 0.5 - width / 2)[..., None] * right
        + (height / 2 - rows - 0.5)[..., None] * up
    )
    east, north, upward = ray[..., 0], ray[..., 1], ray[..., 2]
    return np.degrees(np.arctan2(east, north)), np.degrees(np.arctan2(upward, np.hypot(east, north)))


# Smooth functions for the "encoded" panorama, on the 0..255 scale, and their second-derivative bounds
# (per radian squared) for the bilinear error bound.
AMPLITUDE = 100.0


def f_lon(lon, lat):
    return 128.0 + AMPLITUDE * np.sin(np.radians(lon))


def g_lat(lon, lat):
    return 128.0 + AMPLITUDE * np.sin(np.radians(lat))


def h_both(lon, lat):
    return 128.0 + AMPLITUDE * np.cos(np.radians(lat)) * np.cos(np.radians(lon - 30.0))


ENCODINGS = (f_lon, g_lat, h_both)


def encoded_pano(height=360, width=720):
    lon, lat = pano_lonlat(height, width)
    return np.stack([fn(lon, lat) for fn in ENCODINGS], axis=-1)


def tolerance(pano_shape, lat):
    """Error allowed for the encoded panorama at latitudes ``lat``, per point.

    Linear interpolation between samples h apart errs by at most h^2/8 * max|f''| per axis; each
    encoding has |f''| <= AMPLITUDE per axis (in radians). Beyond the outermost row centres
    (|lat| > 90 - 90/H) rows clamp, which may err by up to AMPLITUDE * (90/H in radians).
    """
    pano_h, pano_w = pano_shape[:2]
    hx, hy = 2 * math.pi / pano_w, math.pi / pano_h
    interpolation = (hx**2 + hy**2) / 8 * AMPLITUDE
    pole_clamp = np.where(np.abs(lat) > 90 - 90 / pano_h, AMPLITUDE * hy / 2, 0.0)
    return ROUNDING + interpolation + 1e-6 + pole_clamp


def sector_pano(width=7200, height=90):
    """Red around longitude 0, green around 120 and blue around 240 (= -120), each 120 degrees wide."""
    lon, _ = pano_lonlat(height, width)
    pano = np.zeros((height, width, 3), dtype=np.uint8)
    pano[(lon >= -60) & (lon < 60)] = RED
    pano[lon >= 60] = GREEN
    pano[lon < -60] = BLUE
    return pano


# -- 1. Views of a panorama that encodes longitude and latitude ----------------------------------------


@pytest.mark.parametrize("pitch", [0.0, 30.0, -30.0, 90.0])
@pytest.mark.parametrize("yaw", VIEW_OFFSETS_DEG)
def test_each_view_matches_independent_ray_math(yaw, pitch):
    pano = encoded_pano()
    size = (640, 640)
    view = render_view(pano, yaw, pitch, 120.0, size)
    assert view.shape == (640, 640, 3) and view.dtype == np.uint8

    rows, cols = np.meshgrid([0, 1, 100, 319, 320, 501, 638, 639], [0, 1, 97, 319, 320, 480, 638, 639])
    lon, lat = expected_lonlat(yaw, pitch, 120.0, size, rows, cols)
    expected = np.stack([fn(lon, lat) for fn in ENCODINGS], axis=-1)
    error = np.abs(view[rows, cols].astype(float) - expected)
    assert np.all(error <= tolerance(pano.shape, lat)[..., None]), error.max()


def test_a_non_square_view_gets_its_vertical_fov_from_the_aspect_ratio():
    pano = encoded_pano()
    size = (320, 200)
    view = render_view(pano, 200.0, 10.0, 90.0, size)
    assert view.shape == (200, 320, 3)

    rows, cols = np.meshgrid([0, 57, 100, 199], [0, 1, 160, 260, 319])
    lon, lat = expected_lonlat(200.0, 10.0, 90.0, size, rows, cols)
    expected = np.stack([fn(lon, lat) for fn in ENCODINGS], axis=-1)
    error = np.abs(view[rows, cols].astype(float) - expected)
    assert np.all(error <= tolerance(pano.shape, lat)[..., None]), error.max()
    # Top edge of the centre column: half the vertical fov, atan(tan(45) * 200/320), above the pitch.
    top_edge = 10.0 + math.degrees(math.atan(200 / 320))
    _, lat_top = expected_lonlat(200.0, 10.0, 90.0, size, -0.5, 159.5)
    assert lat_top == pytest.approx(top_edge)


def test_the_centre_pixel_of_an_odd_sized_view_looks_at_yaw_and_pitch():
    pano = encoded_pano()
    for yaw, pitch in [(0.0, 0.0), (120.0, 20.0), (240.0, -45.0), (-75.0, 60.0)]:
        view = render_view(pano, yaw, pitch, 120.0, (641, 641))
        expected = [fn(yaw, pitch) for fn in ENCODINGS]
        assert view[320, 320] == pytest.approx(expected, abs=ROUNDING + 0.01)


def test_uint8_float_and_greyscale_panoramas_give_the_same_view():
    pano = np.rint(encoded_pano()).astype(np.uint8)
    from_uint8 = render_view(pano, 33.0, 5.0)
    assert np.array_equal(from_uint8, render_view(pano.astype(np.float64), 33.0, 5.0))
    grey = render_view(pano[..., 1], 33.0, 5.0)
    assert grey.shape == (640, 640)
    assert np.array_equal(grey, from_uint8[..., 1])


# -- 2. Three views of a three-sector panorama ---------------------------------------------------------


def test_each_of_the_three_views_shows_its_own_sector():
    views = render_three_views(Image.fromarray(sector_pano()))

    assert [offset for offset, _ in views] == list(VIEW_OFFSETS_DEG)
    for (_, image), colour in zip(views, (RED, GREEN, BLUE), strict=True):
        assert image.mode == "RGB" and image.size == (640, 640)
        view = np.asarray(image)
        assert np.all(view[:, 319:321] == colour)  # the centre columns
        # A 120 degree view between boundaries 120 degrees apart sees nothing else, up to its edges.
        assert np.all(view == colour)


def test_the_edges_of_a_120_degree_view_lie_on_the_sector_boundaries():
    pano = sector_pano()
    neighbours = {0.0: (BLUE, GREEN), 120.0: (RED, BLUE), 240.0: (GREEN, RED)}
    for yaw, (left, right) in neighbours.items():
        # A quarter of a degree wider, and the outermost columns cross the boundaries at +-60 degrees.
        wider = render_view(pano, yaw, fov_deg=120.25)
        assert np.all(wider[:, 0] == left)
        assert np.all(wider[:, -1] == right)
        assert np.all(wider[:, 319:321] == render_view(pano, yaw)[:, 319:321])


def test_views_of_a_greyscale_or_rgba_image_are_rgb():
    for mode in ("L", "RGBA"):
        views = render_three_views(Image.new(mode, (64, 32)), size=(48, 32), fov_deg=90.0)
        assert [(image.mode, image.size) for _, image in views] == [("RGB", (48, 32))] * 3


# -- 3. Wrap-around at the panorama seam ---------------------------------------------------------------


def test_a_view_across_the_seam_follows_the_periodic_function_without_a_jump():
    pano = encoded_pano()
    view = render_view(pano, 180.0)
    rows, cols = np.meshgrid(np.arange(0, 640, 7), np.arange(300, 340))
    lon, lat = expected_lonlat(180.0, 0.0, 120.0, (640, 640), rows, cols)
    error = np.abs(view[rows, cols, 0].astype(float) - f_lon(lon, lat))
    assert np.all(error <= tolerance(pano.shape, lat))

    # Across the centre the columns step by no more than the function's slope allows (plus rounding),
    # although sin(lon) is steepest exactly at the seam.
    step = np.abs(np.diff(view[:, 310:331, 0].astype(float), axis=1))
    focal = 320 / math.tan(math.radians(60))
    assert step.max() <= AMPLITUDE / focal + 2 * ROUNDING


def test_a_coarse_panorama_interpolates_linearly_across_the_seam():
    # 24 columns, 15 degrees apart: wrongly clamping instead of wrapping would be off by ~13 units.
    lon, lat = pano_lonlat(12, 24)
    pano = f_lon(lon, lat)
    view = render_view(pano, 180.0, size=(640, 64)).astype(float)

    columns = np.arange(640)
    view_lon, _ = expected_lonlat(180.0, 0.0, 120.0, (640, 64), np.zeros(640), columns)
    reference = np.interp(view_lon, lon[0], pano[0], period=360.0)
    assert np.all(np.abs(view - reference) <= ROUNDING + 1e-6)


def test_yaw_wraps_around_the_circle():
    pano = encoded_pano()
    view = render_view(pano, 180.0).astype(int)
    for same in (-180.0, 540.0):
        assert np.abs(render_view(pano, same).astype(int) - view).max() <= 1


# -- 4. Horizon and straight lines ---------------------------------------------------------------------


def step_pano(height=360, width=720):
    """255 above the equator, 0 below: bilinear sampling gives > 127.5 exactly where latitude > 0."""
    pano = np.zeros((height, width), dtype=np.uint8)
    pano[: height // 2] = 255
    return pano


@pytest.mark.parametrize("yaw", [0.0, 77.0, 200.0])
def test_the_horizon_row_of_a_level_view_is_latitude_zero(yaw):
    view = render_view(step_pano(), yaw, 0.0, 120.0, (641, 641)).astype(int)
    assert np.all(np.isin(view[320], (127, 128)))
    assert np.all(view[:320] > 128)
    assert np.all(view[321:] < 127)


@pytest.mark.parametrize("pitch", [10.0, -25.0])
def test_a_pitched_view_sees_the_horizon_where_the_ray_math_puts_it(pitch):
    size = (640, 480)
    view = render_view(step_pano(), 40.0, pitch, 100.0, size).astype(int)
    rows, cols = np.mgrid[0:480, 0:640]
    _, lat = expected_lonlat(40.0, pitch, 100.0, size, rows, cols)
    assert np.array_equal(view > 127, lat > 0)
    # Looking up moves the horizon down the image, and the other way round.
    horizon_row = np.argmax(view[:, 320] < 128)
    assert (horizon_row > 240) == (pitch > 0)


POLE_LON = 45.0


def pole_pano(height=180, width=3600):
    """A vertical pole at longitude 45: a tent in longitude 2 degrees wide, so that views sample it well."""
    lon, _ = pano_lonlat(height, width)
    return np.rint(255 * np.clip(1 - np.abs(lon - POLE_LON), 0, 1)).astype(np.uint8)


def row_centroids(view):
    columns = np.arange(view.shape[1])
    return (view * columns).sum(axis=1) / view.sum(axis=1)


def test_a_vertical_pole_stays_a_straight_vertical_column():
    view = render_view(pole_pano(), 15.0).astype(float)

    assert np.all(view == view[0])  # every row identical: the pole is vertical and straight
    focal = 320 / math.tan(math.radians(60))
    expected_column = 320 + focal * math.tan(math.radians(POLE_LON - 15.0)) - 0.5
    assert row_centroids(view) == pytest.approx(np.full(640, expected_column), abs=0.05)
    assert np.all(view[:, np.abs(np.arange(640) - expected_column) > 6] == 0)


def test_looking_up_makes_verticals_converge_towards_the_top():
    centroids = row_centroids(render_view(pole_pano(), 15.0, 20.0).astype(float))
    assert np.all(np.diff(centroids) > 0)  # right of centre, the pole leans in towards the zenith
    assert centroids[0] > 320  # ... and stays right of centre


# -- 5. Bad arguments ----------------------------------------------------------------------------------

PANO = np.zeros((8, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fov_deg": 0.0}, FOV_OUT_OF_RANGE.format(fov=0.0)),
        ({"fov_deg": 180.0}, FOV_OUT_OF_RANGE.format(fov=180.0)),
        ({"fov_deg": -30}, FOV_OUT_OF_RANGE.format(fov=-30)),
        ({"fov_deg": math.nan}, FOV_OUT_OF_RANGE.format(fov=math.nan)),
        ({"size": (0, 640)}, SIZE_NOT_POSITIVE.format(size=(0, 640))),
        ({"size": (640, -1)}, SIZE_NOT_POSITIVE.format(size=(640, -1))),
        ({"size": (640.0, 640)}, SIZE_NOT_POSITIVE.format(size=(640.0, 640))),
        ({"size": (640,)}, SIZE_NOT_POSITIVE.format(size=(640,))),
        ({"size": 640}, SIZE_NOT_POSITIVE.format(size=640)),
        ({"pitch_deg": 91.0}, PITCH_OUT_OF_RANGE.format(pitch=91.0)),
        ({"pitch_deg": math.nan}, PITCH_OUT_OF_RANGE.format(pitch=math.nan)),
        ({"yaw_deg": math.inf}, YAW_NOT_FINITE.format(yaw=math.inf)),
        ({"pano": np.zeros(16)}, PANO_BAD_SHAPE.format(shape=(16,))),
        ({"pano": np.zeros((2, 8, 16, 3))}, PANO_BAD_SHAPE.format(shape=(2, 8, 16, 3))),
        ({"pano": np.zeros((0, 16, 3))}, PANO_BAD_SHAPE.format(shape=(0, 16, 3))),
        ({"pano": np.zeros((8, 16, 0))}, PANO_BAD_SHAPE.format(shape=(8, 16, 0))),
        ({"pano": np.zeros((8, 16), dtype=bool)}, PANO_BAD_DTYPE.format(dtype=np.dtype(bool))),
        ({"pano": np.zeros((8, 16), dtype=complex)}, PANO_BAD_DTYPE.format(dtype=np.dtype(complex))),
    ],
)
def test_it_rejects_bad_arguments_with_a_clear_message(kwargs, message):
    arguments = {"pano": PANO, "yaw_deg": 0.0, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        render_view(**arguments)


def test_render_three_views_rejects_a_bad_fov_too():
    with pytest.raises(ValueError, match=re.escape(FOV_OUT_OF_RANGE.format(fov=200))):
        render_three_views(Image.new("RGB", (32, 16)), fov_deg=200)


# -- Aspect ratio check and headings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (4096, 2048, True),
        (13312, 6656, True),
        (4096, 2047, True),  # an off-by-one export is forgiven
        (640, 640, False),
        (4096, 1024, False),
        (3000, 2000, False),
        (0, 0, False),
    ],
)
def test_looks_equirectangular_wants_two_to_one(width, height, expected):
    assert looks_equirectangular(width, height) is expected


def test_check_equirectangular_gives_the_reason():
    check_equirectangular(4096, 2048)
    message = NOT_EQUIRECTANGULAR.format(width=640, height=640, aspect=1.0)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_equirectangular(640, 640)
    assert "must be 2:1" in message


@pytest.mark.parametrize(
    ("pano_heading", "offset", "expected"),
    [(0.0, 0.0, 0.0), (300.0, 120.0, 60.0), (90.0, 240.0, 330.0), (-10.0, 0.0, 350.0), (200.0, 240.0, 80.0)],
)
def test_absolute_heading_wraps_into_0_to_360(pano_heading, offset, expected):
    assert absolute_heading(pano_heading, offset) == pytest.approx(expected)


def test_absolute_heading_never_returns_360():
    assert absolute_heading(-1e-20, 0.0) == 0.0
    assert 0.0 <= absolute_heading(-1e-20, 0.0) < 360.0


def test_the_module_has_no_django_import():
    with open(panorama.__file__) as module:
        source = module.read()
    assert "import django" not in source and "from django" not in source
