"""/healthz (geogame/common/health.py): the database, Redis and a Celery worker on this deployment's
queue when REDIS_URL is set, and the model artefacts. 200 when all pass, else 503 naming the
failing part; a check that could not run because another failed is skipped, not named.
Real Redis, a real worker process, a real daphne over an unreachable database."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from harness.worker import Workers, database_url, worker_env
from inference.artefacts import META_NAME, WEIGHTS_NAME
from inference.models import TrainedModel
from tests.conftest import scaled
from tools.stack import REPO, Web, free_port, redis_answers, redis_url_with_db, wait_until

REDIS_DB = 11
NOBODY = "redis://127.0.0.1:1/0"  # nothing listens on port 1


TOKEN = "health-token-for-the-tests"


@pytest.fixture(autouse=True)
def health_token(settings):
    settings.GEOGAME_HEALTH_TOKEN = TOKEN


def healthz(client=None, **headers):
    """(status, report) as a caller with the health token sees it (each check's detail)."""
    headers = headers or {"X-Health-Token": TOKEN}
    response = (client or Client()).get("/healthz", headers=headers)
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


@pytest.fixture
def redis_url():
    url = redis_url_with_db(REDIS_DB)
    if not redis_answers(url):
        pytest.skip(f"no Redis answers at {url}")
    return url


@pytest.fixture
def own_queue(settings, redis_url):
    """REDIS_URL set, and a Celery queue nobody else consumes."""
    settings.REDIS_URL = redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = f"geogame-health-{uuid.uuid4().hex[:12]}"
    settings.GEOGAME_HEALTH_WORKER_TIMEOUT_S = 0.5
    yield settings.CELERY_TASK_DEFAULT_QUEUE
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(
        *client.scan_iter(f"*{settings.CELERY_TASK_DEFAULT_QUEUE}*"), settings.CELERY_TASK_DEFAULT_QUEUE
    )


def ready_model(m, version, data_dir):
    """A ready ensemble model registered for map `m`, its artefact folder not written yet."""
    directory = Path(data_dir, "artefacts", m.slug, "ensemble", f"v{version}")
    TrainedModel.objects.create(
        map=m, player_name="ensemble", version=version, status=TrainedModel.READY, directory=str(directory)
    )
    return directory


@pytest.mark.django_db
def test_without_redis_only_the_database_and_the_artefacts_are_checked(settings):
    settings.REDIS_URL = ""
    status, body = healthz()
    assert status == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "artefacts"}
    assert body["checks"]["database"] == {
        "ok": True,
        "vendor": connection.vendor,
        "ms": body["checks"]["database"]["ms"],
    }
    artefacts = body["checks"]["artefacts"]
    assert artefacts["ok"] and artefacts["backbone"] == "present" and artefacts["trained"] == []
    assert artefacts["clip"] == "not configured"


@pytest.mark.django_db
def test_redis_that_does_not_answer_is_named_and_the_worker_check_skipped(settings):
    settings.REDIS_URL = NOBODY
    status, body = healthz()
    assert status == 503
    assert body["status"] == "fail" and body["failing"] == ["redis"]
    assert "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["workers"]["ok"] is None and "Redis" in body["checks"]["workers"]["skipped"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_queue_makes_it_healthy_and_its_death_is_named(
    settings, own_queue, redis_url, tmp_path
):
    status, body = healthz()
    assert status == 503 and body["failing"] == ["workers"]
    assert own_queue in body["checks"]["workers"]["error"]

    env = worker_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_url,
        data_dir=settings.DATA_DIR,
        GEOGAME_CELERY_QUEUE=own_queue,
    )
    workers = Workers(env=env, log_dir=tmp_path)
    try:
        worker = workers.start("health", concurrency=1)
        # A worker that has just started may answer its first broadcast after the probe's 0.5 s on a
        # slow machine (seen once in make test): it must answer one within a scaled bound.
        answers = []
        wait_until(
            lambda: answers.append(healthz()) or answers[-1][0] == 200,
            timeout_s=scaled(15),
            what="/healthz to see the worker",
        )
        status, body = answers[-1]
        assert status == 200, body
        assert body["checks"]["redis"]["ok"] and body["checks"]["workers"]["worker"] == worker.hostname
        worker.kill()
        status, body = healthz()
        assert status == 503 and body["failing"] == ["workers"]
    except BaseException:
        print(workers.logs())
        raise
    finally:
        workers.kill_all()


@pytest.mark.django_db
def test_a_ready_model_whose_files_are_missing_is_named(settings, fixture_map):
    settings.REDIS_URL = ""
    ready_model(fixture_map, 1, settings.DATA_DIR)
    directory = ready_model(fixture_map, 2, settings.DATA_DIR)
    status, body = healthz()
    assert status == 503 and body["failing"] == ["artefacts"]
    artefacts = body["checks"]["artefacts"]
    # Only the newest ready version is what a worker loads.
    assert artefacts["trained"] == [
        {"map": fixture_map.slug, "player": "ensemble", "version": 2, "ok": False}
    ]
    assert f"ensemble v2 on {fixture_map.slug}: missing {META_NAME}, {WEIGHTS_NAME}" in artefacts["error"]

    directory.mkdir(parents=True)
    for name in (META_NAME, WEIGHTS_NAME):
        (directory / name).write_bytes(b"{}")
    status, body = healthz()
    assert status == 200, body
    assert body["checks"]["artefacts"]["trained"][0]["ok"] is True


@pytest.mark.django_db
def test_a_clip_checkpoint_configured_but_missing_is_named(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.GEOGAME_CLIP_PRETRAINED = str(tmp_path / "clip.pt")
    status, body = healthz()
    assert status == 503 and body["checks"]["artefacts"]["clip"] == "missing"
    assert str(tmp_path / "clip.pt") in body["checks"]["artefacts"]["error"]
    (tmp_path / "clip.pt").write_bytes(b"weights")
    status, body = healthz()
    assert status == 200 and body["checks"]["artefacts"]["clip"] == "present"


def test_a_server_whose_database_does_not_answer_reports_it_and_fails_the_container_probe(tmp_path):
    """A real daphne over a PostgreSQL address where nothing listens."""
    env = worker_env(
        database_url="postgres://postgres@127.0.0.1:1/nowhere",
        redis_url="",
        data_dir=tmp_path,
        PYTHONUNBUFFERED=1,
        GEOGAME_HEALTH_TOKEN=TOKEN,  # Web.healthz sends it
    )
    web = Web("web", host="127.0.0.1", port=free_port(), env=env, log_path=tmp_path / "web.log")
    web.require_healthy = False
    web.start()
    try:
        web.wait_ready(60)
        status, body = web.healthz()
        report = json.loads(body)
        assert status == 503 and report["failing"] == ["database"], body
        assert "OperationalError" in report["checks"]["database"]["error"]
        assert report["checks"]["artefacts"] == {"ok": None, "skipped": "the database does not answer"}
        probe = subprocess.run(
            [sys.executable, "-m", "geogame.common.healthcheck", web.url + "/healthz"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 1 and "503" in probe.stderr and "database" in probe.stderr
    finally:
        web.stop()
    assert not web.group_alive()


@pytest.mark.django_db
def test_anonymous_callers_see_only_the_status_and_the_failing_checks_names(settings, fixture_map, tmp_path):
    settings.REDIS_URL = ""
    settings.GEOGAME_CLIP_PRETRAINED = str(tmp_path / "clip.pt")  # missing: the artefacts check fails
    ready_model(fixture_map, 1, settings.DATA_DIR)
    for headers in ({}, {"X-Health-Token": "wrong"}, {"X-Health-Token": TOKEN[:-1]}):
        status, body = healthz(**headers) if headers else healthz(Client(), X_Nothing="")
        assert status == 503
        assert body == {"status": "fail", "failing": ["artefacts"]}, headers
    status, body = healthz()  # the token
    assert status == 503 and str(tmp_path) in body["checks"]["artefacts"]["error"]


@pytest.mark.django_db
def test_staff_see_the_detail_and_no_token_configured_means_only_staff(settings, django_user_model):
    settings.REDIS_URL = ""
    settings.GEOGAME_HEALTH_TOKEN = ""
    status, body = healthz(X_Health_Token="")
    assert status == 200 and body == {"status": "ok", "failing": []}
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("ops", password="x" * 20, is_staff=True))
    status, body = healthz(staff, X_Nothing="")
    assert status == 200 and body["checks"]["database"]["ok"] is True
