"""A withdrawal's report rebuild through a real Celery worker on a private redis-server: the path
production takes (tests/test_study_defects.py covers the in-process fallback). The test commits its
rows (a transactional test) to the test database, which the worker opens by DATABASE_URL."""

import io
import re
import shutil
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from geogame.benchmarks.models import BenchmarkReport
from geogame.benchmarks.report import report_path
from harness.production_stack import private_redis
from harness.worker import Workers, database_url, wait_until, worker_env
from tests.test_study import answer, join, make_study, next_state, state

pytestmark = [pytest.mark.django_db(transaction=True)]

REBUILT = re.compile(r"Task geogame\.benchmark_rebuild\[[0-9a-f-]+\] succeeded")


@pytest.fixture
def redis_url(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server)")
    with private_redis(tmp_path / "redis") as redis:
        yield redis.url(0)


def test_a_worker_rebuilds_the_report_a_withdrawal_superseded(study_map, redis_url, settings, tmp_path):
    study = make_study(study_map, practice_count=0, test_count=3)
    clients = [Client(), Client()]
    stay, gone = (join(c, study) for c in clients)
    for c, p in zip(clients, (stay, gone), strict=True):
        st = state(c, p)
        for _ in range(3):
            assert answer(c, p, st).status_code == 201
            st = next_state(c, p)
    call_command(
        "benchmark", study_map.slug, "--study", study.slug, "--players", "random", "--bootstrap", "100",
        stdout=io.StringIO(),
    )  # fmt: skip
    report = BenchmarkReport.objects.get()
    assert report.data["methods"][0]["participants"] == 2

    queue = f"geogame-test-{uuid.uuid4().hex[:12]}"
    settings.REDIS_URL = redis_url  # background.enqueue now sends to this Redis, into this queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    env = worker_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_url,
        data_dir=settings.DATA_DIR,
        visibility_timeout_s=30,
        GEOGAME_CELERY_QUEUE=queue,
    )
    workers = Workers(env=env, log_dir=tmp_path)
    try:
        worker = workers.start("rebuild")
        assert clients[1].post(reverse("study-withdraw", args=[gone.resume_token])).status_code == 200
        wait_until(lambda: REBUILT.search(worker.log()), timeout_s=120, what="the worker's rebuild")
        report.refresh_from_db()
        assert report.superseded_at is None and report.rebuilt_at is not None
        assert report.data["methods"][0]["participants"] == 1
        assert [p["participant"] for p in report.data["participants"]] == [str(stay.public_id)]
        assert str(gone.public_id) not in (report_path(report) / "answers.csv").read_text()
    except BaseException:
        print(workers.logs())
        raise
    finally:
        workers.stop_all()
