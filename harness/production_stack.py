"""The production topology for fault tests, browser tests and the load benchmark: several daphne
and Celery worker processes (tools.stack) over a fresh PostgreSQL database with the fixture map,
on a Redis of the caller's choice, often a private redis-server (RedisServer) that a test may stop
and start again without touching the machine's shared one.

Nothing here runs outside loopback: PostgreSQL on 127.0.0.1:5432 (TEST_DATABASE_URL names another
server, as for `make test`), Redis on 127.0.0.1."""

import os
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.duel_stack import FIXTURE_MAP
from harness.fixture_map import build_fixture_folder
from tools.stack import (
    Stack,
    StackProcess,
    create_database,
    drop_database,
    free_port,
    postgres_answers,
    redis_answers,
    wait_until,
)

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/geogame"
REDIS_READY_TIMEOUT_S = 10


def missing_services():
    """Why the production stack cannot run here (empty when it can): PostgreSQL not answering,
    no redis-server binary to start a private Redis."""
    missing = []
    if not postgres_answers(POSTGRES_URL):
        missing.append(f"no PostgreSQL answers at {POSTGRES_URL} (set TEST_DATABASE_URL)")
    if shutil.which("redis-server") is None:
        missing.append("no redis-server on PATH (apt-get install redis-server)")
    return missing


def fresh_database_url(prefix, user=None):
    """A database name of its own on the test server (not created yet), reached as `user` if given."""
    parts = urlsplit(POSTGRES_URL)
    netloc = f"{user}@{parts.hostname}:{parts.port or 5432}" if user else parts.netloc
    return urlunsplit((parts.scheme, netloc, f"/geogame_{prefix}_{uuid.uuid4().hex[:12]}", "", ""))


def server_connection():
    """An autocommit connection to the test server's `postgres` database (roles, ALTER DATABASE)."""
    import psycopg

    parts = urlsplit(POSTGRES_URL)
    url = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


class RedisServer(StackProcess):
    """A private redis-server on a free loopback port, its data (an append-only file, as
    docker-compose.yml runs Redis) in `folder`: stop() and start() again keep what it held."""

    def __init__(self, folder, port=None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        argv = [
            shutil.which("redis-server") or "redis-server",
            *("--bind", "127.0.0.1", "--port", self.port, "--dir", folder),
            *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
        ]
        super().__init__(f"redis:{self.port}", argv, dict(os.environ), folder / "redis.log")

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def wait_ready(self, timeout_s=REDIS_READY_TIMEOUT_S):
        def answers():
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.returncode}:\n{self.current_log()}")
            return redis_answers(self.url())

        wait_until(answers, timeout_s=timeout_s, what=f"{self.name} to answer PING")


@contextmanager
def private_redis(folder):
    redis = RedisServer(folder)
    redis.start()
    try:
        redis.wait_ready()
        yield redis
    finally:
        redis.stop()


@contextmanager
def production_stack(
    workdir,
    *,
    name,
    redis_url,
    web=2,
    workers=1,
    settings=None,
    database_url=None,
    map_folder=None,
    **stack_args,
):
    """A fresh PostgreSQL database (`database_url`, by default a new name on the test server),
    migrated, with the fixture map imported (16 places, 5 cities; or the map folder `map_folder`,
    under the fixture map's name), served by `web` daphne processes and `workers` Celery workers on
    `redis_url`. The database is dropped on the way out, and the processes' logs are printed if the
    block raised."""
    workdir = Path(workdir)
    stack = Stack(
        database_url=database_url or fresh_database_url(name),
        redis_url=redis_url,
        data_dir=workdir,
        web=web,
        workers=workers,
        name=name,
        settings=settings,
        migrate=False,
        **stack_args,
    )
    create_database(stack.database_url)
    try:
        folder = Path(map_folder) if map_folder else workdir / "fixture-map"
        if not map_folder:
            build_fixture_folder(folder)
        stack.manage("migrate", "--noinput", "-v", "0")
        stack.manage("import_map", str(folder), "--name", FIXTURE_MAP[0], "--no-progress")
        with stack:
            try:
                yield stack
            except BaseException:
                print(stack.logs()[-40_000:])
                raise
    finally:
        drop_database(stack.database_url)


def query(database_url, sql, params=()):
    """Rows of one read on the stack's database (the test process has no Django connection to it)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


GUESSES_SQL = """
    SELECT r.index, p.kind, g.timed_out FROM geogame_guess g
    JOIN geogame_round r ON r.id = g.round_id
    JOIN geogame_game gm ON gm.id = r.game_id
    JOIN players_player p ON p.id = g.player_id
    WHERE gm.{key} = %s ORDER BY r.index, p.kind
"""


def game_guesses(database_url, game_public_id):
    """[(round index, "human" | "machine", timed out)] of a classic game, from the database."""
    return query(database_url, GUESSES_SQL.format(key="public_id"), [game_public_id])


def duel_guesses(database_url, duel_public_id):
    """The same for a duel's rounds."""
    (game_id,) = query(
        database_url, "SELECT game_id FROM geogame_duel WHERE public_id = %s", [duel_public_id]
    )[0]
    return query(database_url, GUESSES_SQL.format(key="id"), [game_id])


def missing_guesses(guesses, rounds, expected):
    """What `guesses` lack for `rounds` (indexes): `expected` is {player kind: guesses per round};
    each round short of it, over it, or with a timeout is a line for a loss report."""
    lost = []
    for index in rounds:
        for kind, count in expected.items():
            rows = [timed_out for i, k, timed_out in guesses if (i, k) == (index, kind)]
            if len(rows) != count:
                lost.append(f"round {index}: {len(rows)} {kind} guesses stored, not {count}")
            if any(rows):
                lost.append(f"round {index}: a {kind} guess was recorded as a timeout")
    return lost


class GamePlayer:
    """A classic game over HTTP, as the play page's JavaScript drives it. `webs` are the daphne
    processes it may use: when one stops answering it goes on with the next (as a load balancer
    would send it), and every request that failed so is kept in `failed`."""

    def __init__(self, webs, name="Ada"):
        from harness.duel_stack import Session

        self.webs, self.current, self.name = list(webs), 0, name
        self.session = Session(self.webs[0].url)
        self.failed = []
        self.game = None

    def start(self, opponent="centroid", mode="coordinates"):
        url, _ = self.session.post_form(
            "/", {"display_name": self.name, "map": FIXTURE_MAP[1], "mode": mode, "opponent": opponent}
        )
        self.game = re.search(r"/play/([0-9a-f-]{36})/$", url)[1]
        return self.game

    def call(self, path, body=None):
        """(status, JSON) of a GET, or of a POST of `body`; another daphne if this one is gone."""
        for _ in range(len(self.webs)):
            try:
                return self.session.api(path, body)
            except OSError as exc:  # refused, reset, or cut off mid-answer (urllib's HTTPError is answered)
                self.failed.append(f"{'GET' if body is None else 'POST'} {path} on {self.web.name}: {exc}")
                self.current = (self.current + 1) % len(self.webs)
                self.session.base_url = self.web.url
        raise ConnectionError(f"no daphne answered {path}: {self.failed[-len(self.webs) :]}")

    @property
    def web(self):
        return self.webs[self.current]

    def state(self):
        return self.call(f"/api/games/{self.game}/")

    def next_round(self):
        return self.call(f"/api/games/{self.game}/next/", {})

    def guess(self, state, lat=-45.0, lon=-150.0):
        return self.call(state["round"]["guess_url"], {"lat": lat, "lon": lon, "views_seen": [0]})

    def opponent_result(self, timeout_s):
        """The machine's result for the current round, once its guess is stored (the page polls too)."""

        def arrived():
            status, state = self.state()
            opponent = (state.get("result") or {}).get("opponent") or {}
            return status == 200 and opponent.get("pending") is False and opponent

        return wait_until(
            arrived, timeout_s=timeout_s, what=f"the machine's guess in game {self.game}", interval_s=0.2
        )

    def play_round(self, state, opponent_timeout_s=30):
        """Guess the open round of `state` and wait for the machine's; the next round's state."""
        status, reply = self.guess(state)
        assert status in (200, 201), reply
        self.opponent_result(opponent_timeout_s)
        if reply["finished"]:
            return None
        status, state = self.next_round()
        assert status == 200, state
        return state


class DuelPlayer:
    """One seat of a duel played to its end as duel.js plays it: it guesses each round as it
    opens, sends `sync` when an event's version skips one, sends a guess again when the server
    asks to, and reconnects when its socket drops, to the next of `webs` that answers."""

    def __init__(self, webs, session, duel_id, where=(-45.0, -150.0)):
        self.webs, self.current = list(webs), 0
        self.session, self.duel_id, self.where = session, duel_id, where
        self.version, self.you, self.over = -1, None, None
        self.sent = {}  # round index -> guess sent
        self.acked = {}  # round index -> created
        self.results = {}  # round index -> round_result
        self.gaps, self.reconnects, self.errors = 0, [], []
        self.started = set()  # round indexes seen open
        self.hold_from = None  # rounds from this index on are guessed only once release() is called
        self.held = []
        self.client = self._connect()

    def _connect(self):
        from websockets.exceptions import WebSocketException

        from harness.duel_stack import Client

        tried = []
        for _ in range(len(self.webs)):
            web = self.webs[self.current]
            try:
                return Client(web, self.session, self.duel_id)
            except (OSError, TimeoutError, WebSocketException) as exc:
                tried.append(f"{web.name}: {exc}")
                self.current = (self.current + 1) % len(self.webs)
        raise ConnectionError(f"no daphne took the socket: {tried}")

    def reconnect(self):
        from contextlib import suppress

        with suppress(Exception):
            self.client.close()
        self.current = (self.current + 1) % len(self.webs)
        self.client = self._connect()
        self.reconnects.append(self.webs[self.current].name)

    def run(self, timeout_s, until=lambda msg: False):
        """Play until the duel is over (returns duel_over or the final state), or until a message
        matches `until` (returned before it is handled: pass it to handle() to go on)."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout_s
        while self.over is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"duel {self.duel_id} not over within {timeout_s} s; last: {self.client.seen[-3:]}"
                )
            try:
                if self.hold_from is None and self.held:
                    self._guess(self.held.pop(), again=True)
                msg = self.client.recv(timeout=min(left, 0.2))
                if until(msg):
                    return msg
                self.handle(msg)
            except TimeoutError:
                continue
            except ConnectionClosed:
                self.reconnect()
        return self.over

    def run_in_thread(self, timeout_s):
        """run() in a thread; what stops it early goes to `errors`."""

        def play():
            try:
                self.run(timeout_s)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=play, name=f"duel-{self.duel_id}", daemon=True)
        thread.start()
        return thread

    def handle(self, msg):
        kind = msg["type"]
        if kind == "state":
            self.version, self.you = msg["version"], msg["you"]
            if msg["status"] == "finished":
                self.over = msg
            elif msg["round"] and msg["round_open"] and self.you not in msg["guessed"]:
                self.started.add(msg["round"]["index"])
                self._guess(msg["round"]["index"], again=True)  # a guess lost with a dropped socket
        elif kind in ("seat_joined", "round_started", "opponent_guessed", "round_result", "duel_over"):
            if msg["version"] <= self.version:
                return
            if msg["version"] != self.version + 1:
                self.gaps += 1
                self.client.send({"type": "sync"})
                return
            self.version = msg["version"]
            if kind == "round_started":
                self.started.add(msg["round"]["index"])
                self._guess(msg["round"]["index"])
            elif kind == "round_result":
                self.results[msg["round"]] = msg
            elif kind == "duel_over":
                self.over = msg
        elif kind == "guess_ack":
            self.acked[msg["round"]] = msg["created"]
        elif kind == "error":
            from geogame.duels.consumers import ERR_SERVER

            self.errors.append(msg["reason"])
            if msg["reason"] == ERR_SERVER and self.sent:  # "send it again"
                self._guess(max(self.sent), again=True)

    def hold(self, from_round):
        """Guess no round from `from_round` on until release()."""
        self.hold_from = from_round

    def release(self):
        self.hold_from = None

    def _guess(self, index, again=False):
        if self.hold_from is not None and index >= self.hold_from:
            if index not in self.held:
                self.held.append(index)
            return
        if index not in self.sent or (again and index not in self.acked):
            self.sent[index] = self.where
            self.client.guess(index, *self.where)

    def close(self):
        self.client.close()
