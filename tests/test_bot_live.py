"""The reference bot (bots/example_bot.py) as its own process against a real daphne, a Celery worker
and Redis: it plays a classic game and a whole duel, and a revoked token stops it at once."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.duel_stack import Client, Session, prepare_database, running_stack
from harness.worker import redis_answers, redis_url_with_db, wait_until
from tests.bot_functions import PIN
from tests.conftest import scaled
from tools.stack import manage

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[1]
REDIS_DB = 11
FAST = {
    "GEOGAME_DUEL_ROUND_S": 8,
    "GEOGAME_DEADLINE_GRACE_S": 0.3,
    "GEOGAME_DUEL_START_S": 1.0,
    "GEOGAME_DUEL_INTERMISSION_S": 0.3,
    "GEOGAME_DUEL_MAX_ROUNDS": 4,
    "GEOGAME_MACHINE_MIN_HUMAN_S": 0.5,
    "GEOGAME_BOT_POLL_MAX_S": 5,
}
FAR_AWAY = (-45.0, -150.0)


def redis_url_or_skip():
    url = redis_url_with_db(REDIS_DB)
    if not redis_answers(url):
        pytest.skip(f"no Redis answers at {url} (set REDIS_URL, or start redis-server on 127.0.0.1:6379)")
    return url


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = prepare_database(tmp_path_factory.mktemp("bots"))
    with running_stack(workdir, name="bots", redis_url=redis_url_or_skip(), settings=FAST) as s:
        yield s


class BotProcess:
    def __init__(self, stack, name, log_path):
        self.token = manage(stack.env, "bot_create", name).strip()
        self.log_path = log_path
        env = dict(os.environ, GEOGAME_BOT_TOKEN=self.token, PYTHONUNBUFFERED="1")
        self.log_file = open(log_path, "w")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "bots/example_bot.py",
                "--server",
                stack.url,
                "--predict",
                "tests.bot_functions:fixed_pin_after_checking_views",
            ],
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log_file.close()


@pytest.fixture(scope="module")
def bot(stack, tmp_path_factory):
    process = BotProcess(stack, "reference", tmp_path_factory.mktemp("botlog") / "bot.log")
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        for name in ("stack", "bot"):
            if name in request.fixturenames:
                value = request.getfixturevalue(name)
                print(value.logs()[-20000:] if name == "stack" else value.log()[-8000:])


def test_the_reference_bot_plays_a_classic_game_as_the_opponent(stack, bot):
    ada = Session(stack.url)
    url, _ = ada.post_form(
        "/",
        {
            "display_name": "Ada",
            "map": "fixture-world",
            "mode": "coordinates",
            "time_limit": "",
            "opponent": "bot:reference",
        },
    )
    game_id = url.rstrip("/").split("/")[-1]
    status, state = ada.api(f"/api/games/{game_id}/")
    assert status == 200 and state["opponent"] == "reference (bot)"
    for number in range(1, 6):
        assert state["round"]["number"] == number
        status, state = ada.api(
            state["round"]["guess_url"], {"lat": FAR_AWAY[0], "lon": FAR_AWAY[1], "views_seen": [0]}
        )
        assert status == 201, state

        def opponent():
            _, s = ada.api(f"/api/games/{game_id}/")
            return s["result"]["opponent"] if not s["result"]["opponent"]["pending"] else None

        theirs = wait_until(opponent, timeout_s=scaled(20), what=f"the bot's answer to round {number}")
        assert theirs["guess"] == {"lat": PIN[0], "lon": PIN[1], "city": None} and not theirs["timed_out"]
        assert 0 <= theirs["points"] <= 5000
        status, state = ada.api(f"/api/games/{game_id}/next/", {})
        assert status == 200
    assert state["finished"] is True and state["opponent_total_points"] is not None
    assert bot.log().count(": 201 {") >= 5


def test_the_reference_bot_plays_a_whole_duel(stack, bot):
    ada = Session(stack.url)
    client = Client(stack, ada, ada.create_duel(opponent="bot:reference"))
    state = client.until_type("state")
    assert [s["name"] for s in state["seats"]] == ["Ada", "reference (bot)"]
    rounds = 0
    while True:
        started = client.until(
            lambda m: m["type"] in ("round_started", "duel_over"), timeout=scaled(30), what="a round"
        )
        if started["type"] == "duel_over":
            over = started
            break
        rnd = started["round"]
        # The bot answers first; its guess is announced like a machine's, then the human's ends the round.
        client.until_type("opponent_guessed", seat=1, timeout=scaled(20))
        client.guess(rnd["index"], *FAR_AWAY, views_seen=[0])
        result = client.until_type("round_result", round=rnd["index"], timeout=scaled(20))
        bot_guess = next(g for g in result["guesses"] if g["seat"] == 1)
        assert (bot_guess["lat"], bot_guess["lon"]) == PIN and not bot_guess["timed_out"]
        rounds += 1
    assert rounds >= 1 and over["reason"] in ("knockout", "last_round")
    client.close()


def test_the_benchmark_report_lists_the_bot_with_figures(stack, bot):
    out = manage({**stack.env, "GEOGAME_BOT_BENCHMARK_ROUND_S": "20"}, "benchmark", "fixture-world",
                 "--players", "centroid,bot:reference", "--bootstrap", "100")  # fmt: skip
    report = re.search(r"/benchmarks/([0-9a-f-]{36})/", out)
    assert report, out
    row = next(line for line in out.splitlines() if "bot:reference" in line)
    assert "unavailable" not in row, out
    data = json.loads(
        manage(stack.env, "shell", "-c", REPORT_JSON.format(report[1])).strip().splitlines()[-1]
    )
    methods = {r["method"]: r for r in data["methods"]}
    bot_row = methods["bot:reference"]
    assert bot_row["kind"] == "bot" and bot_row["available"] and bot_row["n"] == data["locations"] >= 1
    assert bot_row["n_answered"] == bot_row["n"] and bot_row["mean_points"] is not None
    assert bot_row["median_km"] > 0 and methods["centroid"]["available"]


REPORT_JSON = (
    "import json; from geogame.benchmarks.models import BenchmarkReport; "
    "print(json.dumps(BenchmarkReport.objects.get(public_id='{}').data))"
)


def test_revoking_the_token_stops_a_waiting_bot_at_once(stack, bot):
    time.sleep(0)  # the bot is idle now, waiting in a long poll
    assert bot.proc.poll() is None
    revoked_at = time.monotonic()
    manage(stack.env, "bot_revoke", "reference")
    wait_until(lambda: bot.proc.poll() is not None, timeout_s=scaled(10), what="the bot to stop")
    assert bot.proc.returncode == 2 and "this bot's token was revoked" in bot.log()
    # Woken by the revocation, not by the poll's own end (GEOGAME_BOT_POLL_MAX_S).
    assert time.monotonic() - revoked_at < FAST["GEOGAME_BOT_POLL_MAX_S"] + scaled(3)
