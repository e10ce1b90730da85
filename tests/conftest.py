import functools
import os
import statistics
import sys
import time
from pathlib import Path

import pytest

from harness.fixture_map import build_fixture_folder, write_manifest

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO.parent / "shared" / "datasets" / "streetscapes-sample"

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


def pytest_collection_modifyitems(config, items):
    """pytest-timeout's bound (`timeout` in pyproject.toml) is a wait like the others: scale it for
    every test that does not set its own, so a test that trains a model beside CPU-bound neighbours
    is not cut off at a bound measured on an idle machine."""
    base_s = float(config.getini("timeout") or 0)
    if not base_s:
        return
    bound = pytest.mark.timeout(scaled(base_s))
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(bound)


@pytest.fixture(scope="session")
def slow_factor():
    """measured_slow_factor(), measured once per session; multiply explicit wait bounds by it."""
    return measured_slow_factor()


@pytest.fixture
def staff_client(db):
    """A test client logged in as a staff user."""
    from django.contrib.auth.models import User
    from django.test import Client

    User.objects.create_user("staff", password="pw-staff-1", is_staff=True)
    client = Client()
    assert client.login(username="staff", password="pw-staff-1")
    return client


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
def _fresh_player_cache():
    """Loaded machine players are kept per process by map id and artefact version
    (inference.registry); test databases reuse map ids, so each test starts with none. Nothing to
    clear, and torch is not imported, where no test has loaded a player."""
    yield
    registry = sys.modules.get("inference.registry")
    if registry is not None:
        registry._load.cache_clear()


@pytest.fixture(autouse=True)
def _no_rate_limit_counts():
    """Rate-limit counters (geogame.common.ratelimit) live in the cache: each test starts with none. Only
    the in-process cache is cleared; a Redis cache may be shared and is left alone."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture
def fixture_map(db, fixture_folder):
    from geogame.maps.importer import import_map

    report = import_map(fixture_folder, name="Fixture world")
    assert not report.errors, report.errors
    return report.map


# Per city in a daily map: two train, two test and two play locations, so 20 places a machine may
# play, over the daily's minimum pool (geogame.challenges.rules.DAILY_MIN_POOL, 15). The fixture map
# (10) is under it: drawing on it never holds places for a daily.
DAILY_MAP_PER_CITY = 6


@pytest.fixture
def daily_map(db, tmp_path):
    """A fixture map large enough for a daily challenge: 31 locations, 20 of them held out."""
    from geogame.maps.importer import import_map

    folder = tmp_path / "dailymap"
    folder.mkdir()
    build_fixture_folder(folder, per_city=DAILY_MAP_PER_CITY)
    report = import_map(folder, name="Daily world")
    assert not report.errors, report.errors
    return report.map


@pytest.fixture
def trainable_map(db, tmp_path):
    """A fixture map large enough to train on: 41 locations, split 28/7/3/3 (train/val/test/play):
    6 a machine game may draw."""
    from geogame.maps.importer import import_map

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
    from geogame.maps.importer import import_map

    folder = tmp_path / "studymap"
    build_study_folder(folder)
    return import_map(folder, name="Study map", kind="city").map


@pytest.fixture
def shared_sample():
    if not (SHARED_SAMPLE / "manifest.csv").is_file():
        pytest.skip(f"shared sample not found at {SHARED_SAMPLE}")
    return SHARED_SAMPLE
