"""The production topology without Docker (tools/stack.py): two daphne processes and two Celery
workers over PostgreSQL and Redis. A game is played through both daphne over real HTTP, a worker
stores the machine's guess, the guess limit holds across the two processes (Redis cache), the
access log is JSON, and stopping leaves no process, queue key or database behind. Then the same
through the command line (`make stack`), stopped by SIGTERM.

Each test takes a PostgreSQL database and a Redis database of its own (plus its own queue and
key prefixes), so it may run beside anything else on the same servers."""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness.duel_stack import Session
from harness.fixture_map import build_fixture_folder
from tools.stack import (
    REPO,
    Stack,
    drop_database,
    free_port,
    postgres_answers,
    redis_answers,
    redis_url_with_db,
    wait_until,
)

pytestmark = pytest.mark.redis

REDIS_DB = 12
GUESS_LIMIT = 3
MACHINE_GUESS_TIMEOUT_S = 60
POSTGRES_SERVER = os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/geogame"
TASK_SUCCEEDED = re.compile(r"Task inference\.machine_guess\[[0-9a-f-]+\] succeeded")


def fresh_database_url():
    """A database name of this test's own on the PostgreSQL server (created by the stack)."""
    if not postgres_answers(POSTGRES_SERVER):
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_SERVER} (set TEST_DATABASE_URL)")
    server = POSTGRES_SERVER.rsplit("/", 1)[0]
    return f"{server}/geogame_stack_{uuid.uuid4().hex[:12]}"


def redis_url_or_skip():
    url = redis_url_with_db(REDIS_DB)
    if not redis_answers(url):
        pytest.skip(f"no Redis answers at {url} (set REDIS_URL, or start redis-server on 127.0.0.1:6379)")
    return url


def database_exists(url):
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def redis_keys(url, unique):
    import redis

    return list(redis.Redis.from_url(url).scan_iter(f"*{unique}*"))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def post_json(session, path, body):
    """POST JSON as play.js does (CSRF token from its cookie); (status, headers, decoded body)."""
    token = next(c.value for c in session.jar if c.name == "csrftoken")
    request = urllib.request.Request(
        session.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )
    try:
        with session.opener.open(request, timeout=20) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def get_json(session, path):
    _, body = session.get(path)
    return json.loads(body)


def on(session, web):
    """The same browser (its cookies) talking to another daphne."""
    other = copy.copy(session)
    other.base_url = web.url
    return other


def json_lines(text):
    """The lines of a log that are JSON objects."""
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def test_a_game_through_two_daphne_and_two_workers_on_postgresql_and_redis(tmp_path):
    redis_url = redis_url_or_skip()
    database_url = fresh_database_url()
    folder = tmp_path / "map"
    build_fixture_folder(folder)
    stack = Stack(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        web=2,
        workers=2,
        worker_concurrency=2,
        name="test",
        create_database=True,
        drop_database=True,
        settings={"GEOGAME_LOG_FORMAT": "json", "GEOGAME_RATE_LIMIT_GUESS": f"{GUESS_LIMIT}/600"},
    )
    with stack:
        try:
            web1, web2 = stack.webs
            assert web1.pid != web2.pid and len({w.pid for w in stack.workers}) == 2
            stack.manage("import_map", str(folder), "--name", "Fixture world", "--no-progress")

            status, body = web2.healthz()
            health = json.loads(body)
            assert status == 200, body
            assert health["checks"]["database"]["vendor"] == "postgresql"
            assert health["checks"]["workers"]["queue"] == stack.queue
            assert health["checks"]["workers"]["worker"] in {w.hostname for w in stack.workers}

            # The game is created on one daphne and played on the other (one session: the database's).
            ada = Session(web1.url)
            url, _ = ada.post_form(
                "/",
                {"display_name": "Ada", "map": "fixture-world", "mode": "coordinates", "opponent": "random"},
            )
            game_id = re.search(r"/play/([0-9a-f-]{36})/$", url)[1]
            ada_on_2 = on(ada, web2)
            state = get_json(ada_on_2, f"/api/games/{game_id}/")
            assert state["round"]["index"] == 0 and state["result"] is None

            status, headers, state = post_json(
                ada, f"/api/games/{game_id}/rounds/0/guess/", {"lat": 48.0, "lon": 9.0}
            )
            assert status == 201, state
            request_id = headers["X-Request-ID"]

            def machine_result():
                result = get_json(ada_on_2, f"/api/games/{game_id}/")["result"]["opponent"]
                return None if result["pending"] else result

            machine = wait_until(
                machine_result, timeout_s=MACHINE_GUESS_TIMEOUT_S, what="the machine's guess"
            )
            assert machine["name"] and machine["guess"] is not None and 0 <= machine["points"] <= 5000
            # The guess is committed before the task returns, and Celery logs "succeeded" after that.
            wait_until(
                lambda: any(TASK_SUCCEEDED.search(w.log()) for w in stack.workers),
                timeout_s=MACHINE_GUESS_TIMEOUT_S,
                what="a worker to log the machine's task as succeeded",
            )

            # The guess limit counts this browser's guesses on both daphne together.
            for i in range(GUESS_LIMIT - 1):
                status, _, body = post_json(
                    on(ada, stack.webs[i % 2]), f"/api/games/{game_id}/rounds/9/guess/", {}
                )
                assert status == 404, body
            status, headers, body = post_json(
                ada_on_2, f"/api/games/{game_id}/rounds/0/guess/", {"lat": 0, "lon": 0}
            )
            assert status == 429, body
            assert 0 < int(headers["Retry-After"]) <= 600 and "too many requests" in body["error"]
            # Another browser has a budget of its own.
            bo = Session(web2.url)
            url, _ = bo.post_form("/", {"display_name": "Bo", "map": "fixture-world", "mode": "coordinates"})
            bo_game = re.search(r"/play/([0-9a-f-]{36})/$", url)[1]
            assert get_json(bo, f"/api/games/{bo_game}/")["round"]["index"] == 0
            status, _, body = post_json(bo, f"/api/games/{bo_game}/rounds/0/guess/", {"lat": 1.0, "lon": 1.0})
            assert status == 201, body

            # The access log is JSON lines, the request's id and fields in it.
            logged = [e for e in json_lines(web1.log()) if e.get("request_id") == request_id]
            access = [e for e in logged if e["logger"] == "geogame.request"]
            assert len(access) == 1, web1.log()[-5000:]
            assert access[0]["status"] == 201 and access[0]["method"] == "POST"
            assert (
                access[0]["path"] == f"/api/games/{game_id}/rounds/0/guess/" and access[0]["duration_ms"] >= 0
            )
        except BaseException:
            print(stack.logs())
            raise

    pids = [p.pid for p in stack.processes]
    assert stack.leftovers() == []
    assert not [pid for pid in pids if pid_alive(pid)]
    assert redis_keys(redis_url, stack.queue) == []
    assert not database_exists(database_url)


def test_the_command_line_runner_serves_until_sigterm_and_leaves_nothing_running(tmp_path):
    redis_url = redis_url_or_skip()
    database_url = fresh_database_url()
    unique = f"geogame-cli-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ, GEOGAME_CELERY_QUEUE=unique, GEOGAME_CHANNELS_PREFIX=unique, GEOGAME_CACHE_PREFIX=unique
    )
    env["GEOGAME_HEALTH_TOKEN"] = unique  # /healthz's detail (the worker's queue) is for the token's holders
    env.pop("DJANGO_SETTINGS_MODULE", None)
    port = free_port()
    command = [sys.executable, "-m", "tools.stack", "--web", "1", "--workers", "1", "--port", str(port)]
    command += ["--database-url", database_url, "--redis-url", redis_url, "--data-dir", str(tmp_path)]
    runner = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines, pids = [], []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("geogame stack ready" in line for line in lines) or runner.poll() is not None,
            timeout_s=120,
            what="the stack to be ready",
            interval_s=0.2,
        )
        output = "".join(lines)
        assert "geogame stack ready" in output, output
        pids[:] = [int(pid) for pid in re.findall(r"pid (\d+)", output)]
        assert len(pids) == 2, output
        probe = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Health-Token": unique})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(probe, timeout=10) as r:
            assert r.status == 200
            assert json.loads(r.read())["checks"]["workers"]["queue"] == unique

        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 0, "".join(lines)
        reader.join(timeout=10)
        assert "stopped" in "".join(lines)
        assert not [pid for pid in pids if pid_alive(pid)]
        # Each process's log went to the terminal too, prefixed with its name.
        assert re.search(r"^web\.1\s+\| ", "".join(lines), re.M) and Path(tmp_path, "stack-logs").is_dir()
    finally:
        if runner.poll() is None:  # the test failed before: its processes go too
            for pid in [runner.pid, *pids]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            runner.wait()
        drop_database(database_url)
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"*{unique}*"))
        if keys:
            client.delete(*keys)
