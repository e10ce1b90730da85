"""Logs (geogame/common/logs.py): one access line per request with a request id, JSON lines with
GEOGAME_LOG_FORMAT=json and human-readable lines by default. JSON logs from real daphne and
Celery processes: tests/test_stack.py."""

import io
import json
import logging
import subprocess
import sys

import pytest
from django.test import Client

from geogame.common.logs import JsonFormatter
from harness.live_server import server_env
from tools.stack import REPO

LOG_SOMETHING = """
import logging
log = logging.getLogger("geogame.check")
log.warning("hello %s", "world", extra={"round": 3})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("it broke")
"""


@pytest.fixture
def json_lines():
    """What the access logger writes through the JSON formatter, as parsed objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("geogame.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.django_db
def test_a_request_makes_one_json_line_with_its_id_path_status_and_duration(json_lines):
    response = Client().get("/duels/")
    assert response.status_code == 200
    [line] = json_lines()
    assert line["logger"] == "geogame.request" and line["level"] == "INFO"
    assert line["method"] == "GET" and line["path"] == "/duels/" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    # The request's thread's CPU time: never more than the time it took (to the log's rounding).
    assert isinstance(line["cpu_ms"], float) and 0 <= line["cpu_ms"] <= line["duration_ms"] + 0.1
    assert line["request_id"] == response["X-Request-ID"] and len(line["request_id"]) == 32
    assert line["message"] == f"GET /duels/ 200 {line['duration_ms']:.1f} ms"
    assert line["time"].endswith("+00:00") and isinstance(line["pid"], int)


@pytest.mark.django_db
def test_a_plain_request_id_from_the_proxy_is_kept_and_anything_else_replaced(json_lines):
    kept = Client().get("/duels/", headers={"X-Request-ID": "lb-7f3a.42"})
    replaced = Client().get("/duels/", headers={"X-Request-ID": '"><script>'})
    missing = Client().get("/no-such-page/")
    assert kept["X-Request-ID"] == "lb-7f3a.42"
    assert replaced["X-Request-ID"] != '"><script>' and len(replaced["X-Request-ID"]) == 32
    assert [(line["request_id"], line["status"]) for line in json_lines()] == [
        ("lb-7f3a.42", 200),
        (replaced["X-Request-ID"], 200),
        (missing["X-Request-ID"], 404),
    ]


def run_logging(tmp_path, log_format, *command):
    env = server_env(tmp_path)
    env.pop("GEOGAME_LOG_FORMAT", None)
    if log_format is not None:
        env["GEOGAME_LOG_FORMAT"] = log_format
    return subprocess.run(
        [sys.executable, "manage.py", *(command or ("shell", "-c", LOG_SOMETHING))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_format_writes_one_object_per_line_with_extra_fields_and_the_traceback(tmp_path):
    proc = run_logging(tmp_path, "json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("WARNING", "geogame.check", "hello world"),
        ("ERROR", "geogame.check", "it broke"),
    ]
    assert lines[0]["round"] == 3 and "exception" not in lines[0]
    assert "ZeroDivisionError: division by zero" in lines[1]["exception"]


def test_the_default_format_is_human_readable(tmp_path):
    proc = run_logging(tmp_path, None)
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.endswith(" WARNING geogame.check: hello world")
    with pytest.raises(ValueError):
        json.loads(first)


def test_an_unknown_format_is_refused_with_its_name(tmp_path):
    proc = run_logging(tmp_path, "xml", "check")
    assert proc.returncode != 0
    assert "GEOGAME_LOG_FORMAT must be text or json, got 'xml'" in proc.stderr
