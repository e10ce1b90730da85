import csv
import functools
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO.parent / "shared" / "datasets" / "streetscapes-sample"

# Small fixture maps the tests build themselves: five cities, each with its own
# colour cast, so nothing depends on ../shared.
CITY_TINTS = [(1.0, 0.3, 0.3), (0.3, 1.0, 0.3), (0.3, 0.3, 1.0), (1.0, 1.0, 0.2), (0.2, 1.0, 1.0)]
FIXTURE_CITIES = [
    ("Stuttgart", "Germany", 48.7758, 9.1829),
    ("Orleans", "France", 47.9022, 1.9104),
    ("Aurora", "Canada", 44.0065, -79.4504),
    ("Singapore", "Singapore", 1.3521, 103.8198),
    ("Hameln", "Germany", 52.1024, 9.3560),
]
MANIFEST_HEADER = [
    "id",
    "file",
    "source",
    "source_id",
    "lat",
    "lon",
    "heading",
    "projection",
    "captured_at",
    "city",
    "country",
    "iso2",
    "license",
    "attribution",
    "source_url",
    "sha256",
    "split",
]


def make_image_bytes(size=(320, 240), seed=0, fmt="JPEG", exif_text=None, tint=None):
    """A textured image (so JPEG has something to encode), optionally with EXIF
    carrying `exif_text` as description and GPS tags, like a phone photo. `tint`
    (an RGB triple in 0..1) gives a city its own look, so models can learn it."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    colour = np.asarray(tint) if tint is not None else rng.uniform(0.3, 1.0, 3)
    arr = np.clip(base * colour + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr)
    buf = io.BytesIO()
    kwargs = {}
    if exif_text is not None:
        exif = Image.Exif()
        exif[0x010E] = exif_text  # ImageDescription
        exif[0x010F] = "SecretCam"  # Make
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 46.0, 33.0), "E", (9.0, 10.0, 58.0)
        kwargs["exif"] = exif.tobytes()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_manifest(folder, rows):
    with open(folder / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_HEADER, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


# The fixture map's own splits (its manifest's split column), by position in a city: machine games
# draw only from test and play (geogame.location_pools), so a third of each split would leave the
# 16-location fixture map none to play against a machine.
FIXTURE_SPLITS = ("train", "test", "play")


def build_fixture_folder(folder, per_city=3, panoramas=True, held_out=True):
    """A map folder: `per_city` perspective photos per city with EXIF that names
    the place, plus one 2:1 panorama in the first city. `held_out`: the manifest
    names each location's split (FIXTURE_SPLITS per city, the panorama val), so a
    machine can play 10 of the 16; else the import's seeded hash splits them."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    n = 0
    for ci, (city, country, lat, lon) in enumerate(FIXTURE_CITIES):
        for k in range(per_city):
            n += 1
            name = f"images/img{n:03d}.jpg"
            (folder / name).write_bytes(
                make_image_bytes(
                    seed=n, exif_text=f"{city} {country} {lat:.4f},{lon:.4f}", tint=CITY_TINTS[ci]
                )
            )
            rows.append(
                {
                    "id": f"id-{n}",
                    "file": name,
                    "source": "Mapillary",
                    "source_id": f"90000{n}",
                    "lat": f"{lat + 0.01 * k:.6f}",
                    "lon": f"{lon - 0.01 * k:.6f}",
                    "heading": "90",
                    "projection": "perspective",
                    "captured_at": "2020-01-01",
                    "city": city,
                    "country": country,
                    "license": "CC BY-SA 4.0",
                    "attribution": f"Mapillary image 90000{n}",
                    "split": FIXTURE_SPLITS[k % len(FIXTURE_SPLITS)] if held_out else "",
                }
            )
    if panoramas:
        n += 1
        name = f"images/pano{n:03d}.jpg"
        (folder / name).write_bytes(make_image_bytes(size=(512, 256), seed=n))
        city, country, lat, lon = FIXTURE_CITIES[0]
        rows.append(
            {
                "id": f"id-{n}",
                "file": name,
                "source": "KartaView",
                "source_id": f"80000{n}",
                "lat": f"{lat + 0.05:.6f}",
                "lon": f"{lon + 0.05:.6f}",
                "heading": "30",
                "projection": "equirectangular",
                "city": city,
                "country": country,
                "license": "CC BY-SA 4.0",
                "attribution": f"KartaView image 80000{n}",
                "split": "val" if held_out else "",
            }
        )
    write_manifest(folder, rows)
    return rows


# -- How slow this machine is right now ----------------------------------------------------------
# Waits on other processes (a browser, daphne, workers) are bounds, not sleeps, but a bound that
# holds on an idle machine fails beside CPU-bound neighbours. Tests scale them by one factor,
# measured once per session: a fixed pure-Python loop timed against its time on an idle core.
SLOW_LOOP_N = 200_000
SLOW_LOOP_REFERENCE_S = 0.04  # the loop on one idle core of a 2020s x86 machine
SLOW_FACTOR_MAX = 10.0


def _slow_loop():
    total = 0
    for i in range(SLOW_LOOP_N):
        total += i * i % 7
    return total


@functools.cache
def measured_slow_factor():
    """How many times slower than an idle reference machine this one runs now, between 1 and
    SLOW_FACTOR_MAX: the slower of the loop's wall time against the reference and against its own
    CPU time (which shows the CPU shared with other processes, whatever its speed).
    GEOGAME_TEST_SLOW_FACTOR, when set, is used instead."""
    override = os.environ.get("GEOGAME_TEST_SLOW_FACTOR", "").strip()
    if override:
        return min(SLOW_FACTOR_MAX, max(1.0, float(override)))
    walls, ratios = [], []
    for _ in range(7):
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        _slow_loop()
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
        walls.append(wall)
        ratios.append(wall / max(cpu, 1e-6))
    factor = max(statistics.median(walls) / SLOW_LOOP_REFERENCE_S, statistics.median(ratios))
    return min(SLOW_FACTOR_MAX, max(1.0, factor))


def scaled(seconds):
    """A wait bound of `seconds` on an idle machine, scaled to this one (measured_slow_factor)."""
    return seconds * measured_slow_factor()


@pytest.fixture(scope="session")
def slow_factor():
    """measured_slow_factor(), measured once per session; multiply explicit wait bounds by it."""
    return measured_slow_factor()


@pytest.fixture
def fixture_folder(tmp_path):
    folder = tmp_path / "mapfolder"
    folder.mkdir()
    build_fixture_folder(folder)
    return folder


@pytest.fixture(autouse=True)
def _data_in_tmp(settings, tmp_path):
    """Every test gets its own data folder (images, artefacts, caches), laid out as
    GEOGAME_DATA_DIR would lay it out, so a worker process can be pointed at it."""
    settings.DATA_DIR = tmp_path / "data"
    settings.MEDIA_ROOT = settings.DATA_DIR / "media"


@pytest.fixture(autouse=True)
def _model_tasks_in_this_process(settings):
    """In-process model tasks run in this test process, which sees the test database (a model process
    would not: the database may be in memory). Servers the tests start keep the default: a child
    process (tests/test_web_process_torch_free.py)."""
    settings.GEOGAME_LOCAL_MODEL_PROCESS = False


@pytest.fixture(autouse=True)
def _no_rate_limit_counts():
    """Rate-limit counters (geogame.ratelimit) live in the cache: each test starts with none. Only
    the in-process cache is cleared; a Redis cache may be shared and is left alone."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def fixture_map(db, fixture_folder):
    from geogame.importer import import_map

    report = import_map(fixture_folder, name="Fixture world")
    assert not report.errors, report.errors
    return report.map


@pytest.fixture
def trainable_map(db, tmp_path):
    """A fixture map large enough to train on: 41 locations, split 28/7/3/3 (train/val/test/play):
    6 a machine game may draw."""
    from geogame.importer import import_map

    folder = tmp_path / "trainable"
    folder.mkdir()
    build_fixture_folder(folder, per_city=8, held_out=False)
    return import_map(folder, name="Trainable", kind="city").map


def build_study_folder(folder):
    """A city map folder with its own split: per city 2 test, 1 val and 2 train locations."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = build_fixture_folder(folder, per_city=5, panoramas=False)
    for i, row in enumerate(rows):
        row["split"] = ("test", "test", "val", "train", "train")[i % 5]
    write_manifest(folder, rows)
    return rows


@pytest.fixture
def study_map(db, tmp_path):
    from geogame.importer import import_map

    folder = tmp_path / "studymap"
    build_study_folder(folder)
    return import_map(folder, name="Study map", kind="city").map


@pytest.fixture
def shared_sample():
    if not (SHARED_SAMPLE / "manifest.csv").is_file():
        pytest.skip(f"shared sample not found at {SHARED_SAMPLE}")
    return SHARED_SAMPLE
