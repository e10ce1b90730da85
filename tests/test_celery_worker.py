"""Machine guesses through a real Celery worker on Redis: the path production takes.

Each test commits its rows (transactional tests) to the test database, which worker
subprocesses open by DATABASE_URL, and sends tasks through Redis (database 14) on a queue
of its own.
"""

import json
import math
import platform
import re
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

from geogame.common import background
from geogame.game import services
from geogame.game.models import Game, Guess
from geogame.maps.models import Location
from harness.worker import Workers, database_url, redis_answers, redis_url_with_db, wait_until, worker_env
from inference import artefacts, registry
from inference.models import TrainedModel
from inference.training import train, trained_model_create
from players.models import Player

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REDIS_DB = 14
VISIBILITY_TIMEOUT_S = 5
GUESS_TIMEOUT_S = 60
TASK = "inference.machine_guess"
TASK_LINE = re.compile(r"Task inference\.machine_guess\[([0-9a-f-]+)\] (received|succeeded)[^\n]*")
TRAIN_TASK = "inference.train_player"
TRAIN_SUCCEEDED = re.compile(r"Task inference\.train_player\[[0-9a-f-]+\] succeeded")
TRAIN_TIMEOUT_S = 300


def expected_points(lat1, lon1, lat2, lon2, scale_km):
    """Scoring written out again, independently of geogame.common.geo and geogame.game.scoring."""
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    d = 2 * r * math.asin(min(1.0, math.sqrt(a)))
    return 5000 if d <= 0.025 else round(5000 * math.exp(-10 * d / scale_km))


def task_lines(worker):
    """[(task id, "received" | "succeeded", the whole line)] from a worker's log."""
    return [(m[1], m[2], m[0]) for m in TASK_LINE.finditer(worker.log())]


def machine_guesses(rnd):
    return Guess.objects.filter(round=rnd, player__kind=Player.MACHINE)


def wait_for_machine_guess(rnd):
    return wait_until(
        lambda: machine_guesses(rnd).first(),
        timeout_s=GUESS_TIMEOUT_S,
        what=f"the machine's guess for round {rnd.id}",
    )


def succeeded(worker):
    return [line for _, event, line in task_lines(worker) if event == "succeeded"]


def assert_scored_right(guess):
    loc, scale_km = guess.round.location, guess.round.game.map.scale_km
    assert guess.points == expected_points(loc.lat, loc.lon, guess.lat, guess.lon, scale_km)


@dataclass
class Broker:
    url: str
    queue: str
    redis: object

    def unacked(self, task_id):
        """(delivery tag, time delivered) while `task_id` is delivered and not acknowledged."""
        for tag, delivered_at in self.redis.zrange("unacked_index", 0, -1, withscores=True):
            if task_id.encode() in (self.redis.hget("unacked", tag) or b""):
                return tag, delivered_at
        return None


@pytest.fixture
def broker(settings):
    """A Redis database for these tests and a Celery queue of this test's own: other runs
    (other engineers' too) may share the database, so nothing in it is flushed."""
    import redis

    url = redis_url_with_db(REDIS_DB)
    if not redis_answers(url):
        pytest.skip(f"no Redis answers at {url} (set REDIS_URL, or start redis-server on 127.0.0.1:6379)")
    queue = f"geogame-test-{uuid.uuid4().hex[:12]}"
    settings.REDIS_URL = url  # background.enqueue now sends to this Redis,
    # into this queue (the Celery app reads its CELERY_* settings through django.conf on use).
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    client = redis.Redis.from_url(url)
    yield Broker(url, queue, client)
    client.delete(*client.scan_iter(f"*{queue}*"), queue)  # the queue and kombu's bindings of it


@pytest.fixture
def workers(request, broker, settings, tmp_path):
    """Starts workers over this test's database, data folder and queue; stops them all at
    the end and prints their logs if the test failed."""
    env = worker_env(
        database_url=database_url(connection.settings_dict),
        redis_url=broker.url,
        data_dir=settings.DATA_DIR,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        GEOGAME_CELERY_QUEUE=broker.queue,
    )
    group = Workers(env=env, log_dir=tmp_path)
    failed_before = request.session.testsfailed  # bumped once this test's call phase has failed
    yield group
    group.stop_all()
    if request.session.testsfailed > failed_before:
        print(group.logs())


def sqlite_db():
    return connection.settings_dict["ENGINE"].endswith("sqlite3")


@contextmanager
def guess_inserts_blocked():
    """Hold a write lock that makes a worker's guess INSERT wait, while its reads go on."""
    s = connection.settings_dict
    if sqlite_db():
        # WAL: readers are not blocked, and the worker waits (busy timeout 20 s) to write.
        lock = sqlite3.connect(s["NAME"], isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    else:
        import psycopg

        with psycopg.connect(database_url(s)) as lock:
            # EXCLUSIVE conflicts with the ROW EXCLUSIVE an INSERT takes, not with SELECT's ACCESS SHARE.
            lock.execute("LOCK TABLE geogame_guess IN EXCLUSIVE MODE")
            yield
            lock.rollback()


def running_the_task(worker):
    """Whether `worker` is inside a task body: a worker opens the database only there
    (SQLite), or is waiting for the guess table's lock (PostgreSQL)."""
    if sqlite_db():
        return worker.has_open(connection.settings_dict["NAME"])
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM pg_locks WHERE relation = 'geogame_guess'::regclass AND NOT granted")
        return c.fetchone()[0] > 0


def centroid_game(m):
    return services.game_create(player=Player.objects.create(display_name="Ada"), map=m, opponent="centroid")


def test_a_worker_stores_the_machine_guess_which_stays_hidden_until_the_player_guesses(
    trainable_map, workers
):
    workers.start("solo")
    client = Client()
    r = client.post(
        "/", {"display_name": "Ada", "map": trainable_map.slug, "mode": "coordinates", "opponent": "centroid"}
    )
    assert r.status_code == 302, r.content
    game = Game.objects.get()
    state = client.get(f"/api/games/{game.public_id}/").json()  # starts round 1
    rnd = game.rounds.get(index=0)

    guess = wait_for_machine_guess(rnd)
    assert machine_guesses(rnd).count() == 1
    assert guess.player.machine_name == "centroid" and not guess.timed_out
    assert_scored_right(guess)
    before = client.get(f"/api/games/{game.public_id}/").content.decode()
    assert json.loads(before)["result"] is None
    assert repr(guess.lat) not in before and repr(guess.lon) not in before

    res = client.post(
        state["round"]["guess_url"], json.dumps({"lat": 0, "lon": 0}), content_type="application/json"
    ).json()["result"]
    assert res["opponent"]["points"] == guess.points and res["opponent"]["guess"]["lat"] == guess.lat


def test_the_same_task_delivered_three_times_at_once_stores_one_guess(trainable_map, workers):
    game = centroid_game(trainable_map)
    rnd = services.round_next(game=game)  # the first copy
    background.enqueue(TASK, rnd.id, game.opponent_id)  # outside a transaction: sent at once
    background.enqueue(TASK, rnd.id, game.opponent_id)
    # Started after all three are queued, so its four threads take them together.
    worker = workers.start("solo")

    wait_until(lambda: len(succeeded(worker)) >= 3, timeout_s=GUESS_TIMEOUT_S, what="three tasks to succeed")
    guess = machine_guesses(rnd).get()
    lines = succeeded(worker)
    assert len(lines) == 3
    assert all(line.endswith(f": {guess.id}") for line in lines)  # each returned the one stored guess
    assert_scored_right(guess)


def test_a_task_whose_worker_is_killed_mid_task_is_redelivered_to_another_worker(
    trainable_map, workers, broker
):
    """kombu's Redis transport keeps a delivered, unacknowledged task in the `unacked` hash
    and puts it back on the queue only when a consumer sweeps for entries older than the
    visibility timeout: once as it starts consuming (before it logs "ready"), then every
    `unacked_restore_interval` x `unacked_restore_throttle` seconds (10 x 10 by default).
    So the second worker is started once the visibility timeout has passed."""
    game = centroid_game(trainable_map)
    rnd = services.round_next(game=game)  # queued: no worker yet
    with guess_inserts_blocked():
        first = workers.start("first")
        first.wait_for_log(f"Task {TASK}[", GUESS_TIMEOUT_S)
        ((task_id, _, _),) = task_lines(first)
        # Mid-task: running, and its guess INSERT waits for the lock; delivered and not
        # acknowledged (acks_late), so the broker still holds it.
        wait_until(lambda: running_the_task(first), timeout_s=GUESS_TIMEOUT_S, what="the task to be running")
        _, delivered_at = broker.unacked(task_id)
        first.kill()
    assert not machine_guesses(rnd).exists()
    assert broker.redis.llen(broker.queue) == 0 and broker.unacked(task_id)  # not back on the queue yet

    wait_until(
        lambda: time.time() - delivered_at > VISIBILITY_TIMEOUT_S + 0.5,
        timeout_s=VISIBILITY_TIMEOUT_S + 5,
        what="the visibility timeout to pass",
    )
    second = workers.start("second")
    guess = wait_for_machine_guess(rnd)
    wait_until(
        lambda: (task_id, "succeeded") in [(t, e) for t, e, _ in task_lines(second)],
        timeout_s=GUESS_TIMEOUT_S,
        what="the second worker to finish the task",
    )

    assert [(t, e) for t, e, _ in task_lines(first)] == [(task_id, "received")]
    assert [(t, e) for t, e, _ in task_lines(second)] == [(task_id, "received"), (task_id, "succeeded")]
    assert machine_guesses(rnd).count() == 1
    assert_scored_right(guess)
    # Acknowledged: the log's "succeeded" comes just before the ack, so wait for it.
    wait_until(lambda: broker.unacked(task_id) is None, timeout_s=GUESS_TIMEOUT_S, what="the ack")


def test_a_trained_player_plays_through_the_worker(trainable_map, workers, settings):
    train(trained_model_create(m=trainable_map, name="ensemble"), seed=0)
    shutil.rmtree(settings.DATA_DIR / "features")  # so the worker runs the backbone itself
    worker = workers.start("solo")
    if platform.libc_ver()[0] == "glibc":  # inference.runtime.tune_allocator, at worker_init
        assert "malloc tuned for the model: yes" in worker.log()
    game = services.game_create(
        player=Player.objects.create(display_name="Ada"),
        map=trainable_map,
        opponent="ensemble",
        rounds_total=3,
    )
    in_process = registry.load_player("ensemble", trainable_map)
    for _ in range(3):
        rnd = services.round_next(game=game)
        guess = wait_for_machine_guess(rnd)
        services.guess_submit(round=rnd, player=game.player, lat=0.0, lon=0.0)
        assert machine_guesses(rnd).count() == 1 and guess.player.machine_name == "ensemble"
        assert_scored_right(guess)
        # The worker has put the views' features in the shared cache, so this runs the head only.
        (here,) = in_process.predict([Location.objects.get(id=rnd.location_id)])
        assert (guess.lat, guess.lon) == pytest.approx((here.lat, here.lon), abs=1e-6)  # the same model ran
    assert services.round_next(game=game) is None


def test_two_deliveries_of_one_training_request_train_once(trainable_map, workers):
    """Two copies of one train_player task (Redis hands a task out again once it has been held
    longer than the visibility timeout, as a long run is) taken by one worker's threads together:
    one trains; the other finds the row claimed (or already ready) and returns without training."""
    tm = trained_model_create(m=trainable_map, name="ensemble")
    background.enqueue(TRAIN_TASK, tm.id)  # outside a transaction: sent at once
    background.enqueue(TRAIN_TASK, tm.id)
    worker = workers.start("solo")  # after both are queued, so its threads take them together

    wait_until(
        lambda: len(TRAIN_SUCCEEDED.findall(worker.log())) >= 2,
        timeout_s=TRAIN_TIMEOUT_S,
        what="both copies of the training task to finish",
    )
    tm.refresh_from_db()
    assert tm.status == TrainedModel.READY, tm.error
    log = worker.log()
    assert log.count(f"{tm}: training, run ") == 1
    assert f"train_player({tm.id}) not run" in log
    folder = artefacts.artefact_dir(trainable_map.slug, "ensemble", 1)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["v1"] and str(folder) == tm.directory
