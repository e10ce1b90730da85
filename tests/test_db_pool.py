"""The database pool's settings (config/settings.py, config/celery.py). The pool at work, against a
real stack, is in tests/test_stack_faults.py (the bound, and the recovery after dropped connections)."""

import copy
from types import SimpleNamespace

from config.celery import pool_for_every_thread


def _pooled(settings, max_size):
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": max_size,
        "timeout": 3,
    }
    settings.DATABASES = databases
    return databases["default"]["OPTIONS"]["pool"]


def test_a_worker_pool_grows_to_the_worker_concurrency(settings):
    pool = _pooled(settings, 8)
    pool_for_every_thread(instance=SimpleNamespace(concurrency=16), options={})
    assert pool["max_size"] == 16


def test_a_worker_pool_larger_than_the_concurrency_is_kept(settings):
    pool = _pooled(settings, 8)
    pool_for_every_thread(instance=None, options={"concurrency": 4})
    assert pool["max_size"] == 8


def test_no_pool_configured_is_left_alone(settings):
    databases = copy.deepcopy(settings.DATABASES)
    databases["default"].setdefault("OPTIONS", {}).pop("pool", None)
    settings.DATABASES = databases
    pool_for_every_thread(instance=SimpleNamespace(concurrency=16), options={})
    assert "pool" not in settings.DATABASES["default"]["OPTIONS"]
