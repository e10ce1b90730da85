"""Faults on the multi-process stack (harness/production_stack.py: several daphne and Celery worker
processes on PostgreSQL and a private redis-server, all on loopback): a worker killed mid-guess,
Redis restarted mid-duel, one daphne killed, the database's connections dropped.

Each test plays real games through the fault and then counts, from the database, what the fault
lost; it prints that count whatever the outcome ("lost: nothing" is the goal) and fails on any loss.
"""

import os
import signal
import threading
import time

import pytest

from geogame.common.middleware import ERR_DATABASE_UNAVAILABLE
from harness.duel_stack import Session
from harness.production_stack import (
    DuelPlayer,
    GamePlayer,
    duel_guesses,
    game_guesses,
    missing_guesses,
    missing_services,
    private_redis,
    production_stack,
    query,
    server_connection,
)
from tests.conftest import scaled
from tools.stack import wait_until

pytestmark = pytest.mark.stack

ROUNDS = 3
VISIBILITY_TIMEOUT_S = 3
DUEL_ROUND_S = 8
FAST_DUELS = {
    "GEOGAME_DUEL_ROUND_S": DUEL_ROUND_S,
    "GEOGAME_DEADLINE_GRACE_S": 0.3,
    "GEOGAME_MACHINE_THINK_S": 1.0,
    "GEOGAME_DUEL_START_S": 1.0,
    "GEOGAME_DUEL_INTERMISSION_S": 0.5,
    "GEOGAME_DUEL_MAX_ROUNDS": ROUNDS,
    "GEOGAME_ROUNDS_PER_GAME": ROUNDS,
}
THINKING_DUELS = {**FAST_DUELS, "GEOGAME_MACHINE_THINK_S": 2.5}
# Bounds on waits, scaled to how slow the machine is this session (tests.conftest.scaled); the
# servers' own deadlines above are not.
DUEL_S = scaled(60)  # a whole duel of ROUNDS rounds
RESUME_S = DUEL_ROUND_S + scaled(10)  # a round opened just before a fault ends by then (deadline + slack)
REQUEST_S = scaled(5)  # a request that fails must fail within this


@pytest.fixture(scope="module", autouse=True)
def _services():
    missing = missing_services()
    if missing:
        pytest.skip("the production stack needs " + "; ".join(missing))


@pytest.fixture
def redis_server(tmp_path):
    with private_redis(tmp_path / "redis") as server:
        yield server


class LossReport:
    """What a fault did and what it lost, printed at the end of the test whatever the outcome."""

    def __init__(self, fault):
        self.fault, self.seen, self.lost = fault, [], []

    def text(self):
        lines = [f"fault: {self.fault}", *(f"  {line}" for line in self.seen)]
        lines.append("  lost: nothing" if not self.lost else f"  lost ({len(self.lost)}):")
        lines += [f"    {line}" for line in self.lost]
        return "\n".join(lines)


@pytest.fixture
def report(request, capsys):
    loss = LossReport(request.node.name.removeprefix("test_").replace("_", " "))
    yield loss
    with capsys.disabled():
        print("\n" + loss.text())


def waiting_locks(database_url, table):
    """Lock requests on `table` that wait (a request or task blocked mid-way)."""
    sql = "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted"
    return query(database_url, sql, [table])[0][0]


def round_guesses(database_url, game_public_id, index):
    """How many guesses round `index` of a game has (the player's and the machine's)."""
    sql = (
        "SELECT count(*) FROM geogame_guess g JOIN geogame_round r ON r.id = g.round_id "
        "JOIN geogame_game m ON m.id = r.game_id WHERE m.public_id = %s AND r.index = %s"
    )
    return query(database_url, sql, [str(game_public_id), index])[0][0]


def task_lines(worker, task_id):
    return [line for line in worker.log().splitlines() if f"[{task_id}]" in line]


def task_runs(stack, task_id):
    """The log lines, in every worker, of the task's runs that reached their end."""
    return [line for w in stack.workers for line in task_lines(w, task_id) if "succeeded" in line]


def test_a_worker_killed_mid_guess_leaves_exactly_one_machine_guess(tmp_path, redis_server, report):
    """The worker that took the machine's guess is SIGKILLed while its thread waits to store it;
    it is started again by hand here, later than a supervisor would (docker-compose.yml's `restart:`),
    and the task, never acknowledged, is delivered again once the visibility timeout has passed."""
    import psycopg

    settings = {"GEOGAME_TASK_VISIBILITY_TIMEOUT_S": VISIBILITY_TIMEOUT_S, "GEOGAME_ROUNDS_PER_GAME": ROUNDS}
    with production_stack(
        tmp_path, name="kill-worker", redis_url=redis_server.url(), workers=2, settings=settings
    ) as stack:
        ada = GamePlayer(stack.webs)
        ada.start(opponent="centroid")
        with psycopg.connect(stack.database_url) as lock:
            lock.execute("LOCK TABLE geogame_guess IN EXCLUSIVE MODE")  # inserts wait; reads go on
            status, state = ada.state()  # starts round 0: daphne sends the machine's task
            assert status == 200, state
            marker = "Task inference.machine_guess["
            holder = wait_until(
                lambda: next((w for w in stack.workers if marker in w.current_log()), None),
                timeout_s=scaled(30),
                what="a worker to take the machine's guess",
            )
            task_id = holder.current_log().split(marker, 1)[1].split("]", 1)[0]
            delivered_at = time.monotonic()
            wait_until(
                lambda: waiting_locks(stack.database_url, "geogame_guess"),
                timeout_s=scaled(30),
                what="the task to wait to store its guess",
            )
            holder.kill()
            report.seen.append(
                f"{holder.name} killed (SIGKILL) while storing the machine's guess, task {task_id}"
            )
        assert not [g for g in game_guesses(stack.database_url, ada.game) if g[1] == "machine"]

        # The player guesses meanwhile: the answer says the machine is still thinking.
        status, reply = ada.guess(state)
        assert status == 201 and reply["result"]["opponent"]["pending"] is True, reply

        wait_until(
            lambda: time.monotonic() - delivered_at > VISIBILITY_TIMEOUT_S + 0.5,
            timeout_s=VISIBILITY_TIMEOUT_S + scaled(5),
            what="the visibility timeout to pass",
        )
        holder.restart()  # its start-up sweep hands the unacknowledged task out again
        started = time.monotonic()
        opponent = ada.opponent_result(timeout_s=scaled(60))
        report.seen.append(
            f"the machine's guess arrived {time.monotonic() - started:.1f} s after the restart"
        )
        assert opponent["timed_out"] is False
        # The guess is committed before the task returns, and Celery logs "succeeded" after that.
        wait_until(lambda: task_runs(stack, task_id), timeout_s=scaled(30), what="its success logged")

        status, state = ada.next_round()
        while state is not None:  # the rest of the game, on both workers
            state = ada.play_round(state)
        runs = task_runs(stack, task_id)
        report.seen.append(f"task {task_id} ran to the end {len(runs)} time(s)")
        assert len(runs) == 1, runs

        guesses = game_guesses(stack.database_url, ada.game)
        report.lost += missing_guesses(guesses, range(ROUNDS), {"human": 1, "machine": 1})
        assert not report.lost, report.text()


def test_a_redis_restart_mid_duel_loses_no_guess_and_the_duel_goes_on(tmp_path, redis_server, report):
    """Redis (its data in an append-only file, as docker-compose.yml runs it) is stopped and started
    again as round 2 of a duel against the centroid player opens, while the worker holds round 2's
    timers as ETA tasks, which Celery drops with the connection (Redis hands them out again only
    after the visibility timeout, 300 s). The worker often exits on the reconnect (kombu 5.7.0:
    AttributeError in the Redis channel's close); the stack's supervisor starts it again, as
    docker-compose.yml's `restart:` does. The duel must go on, with no client reconnecting (the
    workers' sweep advances it): every round ends by its deadline with both guesses, and the
    duel ends."""
    with production_stack(
        tmp_path,
        name="redis-restart",
        redis_url=redis_server.url(),
        settings=THINKING_DUELS,
        restart_on_exit=True,
    ) as stack:
        ada = Session(stack.webs[0].url)
        duel = ada.create_duel(opponent="centroid")
        player = DuelPlayer(stack.webs[::-1], ada, duel)  # its socket on the other daphne
        second = player.run(
            DUEL_S, until=lambda m: m["type"] == "round_started" and m["round"]["number"] == 2
        )
        # The worker now holds round 2's timers: its deadline, and the machine's announcement due
        # THINK_S after the round opened (Redis is down and back well before that).
        worker = stack.workers[0]
        wait_until(
            lambda: worker.current_log().count("duel_machine_announce[") >= 3,  # round 1's twice, round 2's
            timeout_s=scaled(10),
            what="the worker to hold round 2's announcement",
        )

        began = time.monotonic()
        redis_server.stop()
        redis_server.start()
        redis_server.wait_ready()
        report.seen.append(
            f"Redis stopped and started again in {time.monotonic() - began:.2f} s, as round 2 opened"
        )
        wait_until(
            lambda: stack.restarts or worker.current_log().count("Connected to redis") >= 2,
            timeout_s=scaled(30),
            what="the worker to reconnect or exit",
        )
        report.seen.append(
            f"the supervisor restarted: {stack.restarts}" if stack.restarts else "the worker reconnected"
        )

        player.handle(second)  # guess round 2
        round_ended = lambda m: m["type"] == "round_result"  # noqa: E731
        try:
            player.handle(player.run(RESUME_S, until=round_ended))
        except TimeoutError:  # diagnosis: does the server catch up on a reconnect, at least?
            report.lost.append(f"the duel stalled: round 2 had not ended {RESUME_S:.0f} s after it opened")
            player.reconnect()  # as a player reloading the page would: the server catches up on connect
            try:
                player.handle(player.run(RESUME_S, until=round_ended))
                report.seen.append("a client reconnecting made the duel go on (the server catches up)")
            except TimeoutError:
                report.seen.append("a client reconnecting did not make the duel go on either")
        try:
            player.run(DUEL_S)
        except TimeoutError:
            report.lost.append(f"the duel did not end within {DUEL_S:.0f} s more")
        report.seen.append(f"event gaps the client synced over: {player.gaps}; errors: {player.errors}")

        guesses = duel_guesses(stack.database_url, duel)
        played = sorted({index for index, _, _ in guesses})
        report.lost += missing_guesses(guesses, played, {"human": 1, "machine": 1})
        report.lost += [
            f"round {i}: guessed, never acknowledged" for i in sorted(set(player.sent) - set(player.acked))
        ]
        (status,) = query(stack.database_url, "SELECT status FROM geogame_duel WHERE public_id = %s", [duel])[
            0
        ]
        if status != "finished":
            report.lost.append(f"the duel is {status}, not finished")
        assert not report.lost, report.text()


def test_a_worker_that_dies_is_started_again_and_serves_the_duel(tmp_path, redis_server, report):
    """With restart_on_exit (the command-line runner's default), a worker that exits by itself is
    started again within a second, and the duel against the machine goes on to its end."""
    with production_stack(
        tmp_path,
        name="restart-worker",
        redis_url=redis_server.url(),
        web=1,
        settings=FAST_DUELS,
        restart_on_exit=True,
    ) as stack:
        worker = stack.workers[0]
        dead = worker.pid
        os.kill(dead, signal.SIGKILL)  # not through stop() or kill(): as a crash would
        wait_until(
            lambda: stack.restarts, timeout_s=scaled(10), what="the supervisor to start the worker again"
        )
        report.seen.append(f"{stack.restarts}")
        assert worker.pid != dead
        worker.wait_ready()

        ada = Session(stack.webs[0].url)
        duel = ada.create_duel(opponent="centroid")
        player = DuelPlayer(stack.webs, ada, duel)
        over = player.run(DUEL_S)  # TimeoutError if the duel does not end
        report.seen.append(f"the duel ended: {over['type']}")
        guesses = duel_guesses(stack.database_url, duel)
        report.lost += missing_guesses(
            guesses, sorted({i for i, _, _ in guesses}), {"human": 1, "machine": 1}
        )
        assert not report.lost, report.text()


def test_killing_one_daphne_moves_its_clients_to_the_other_and_nothing_is_lost(
    tmp_path, redis_server, report
):
    """Two daphne; a classic game over HTTP, a duel against the machine and a duel between two
    people (one socket on each daphne) are under way when the first daphne is SIGKILLed. Its
    clients go on with the second one, and every game and duel is played to its end."""
    with production_stack(
        tmp_path, name="kill-daphne", redis_url=redis_server.url(), settings=FAST_DUELS
    ) as stack:
        first, second = stack.webs
        ada = GamePlayer(stack.webs, name="Ada")
        ada.start(opponent="centroid")
        status, state = ada.state()
        state = ada.play_round(state)  # round 0 on the first daphne

        bo, cy, di = Session(first.url), Session(second.url), Session(first.url)
        pair = bo.create_duel(opponent="human", name="Bo")
        bo_player = DuelPlayer(stack.webs, bo, pair)
        waiting = bo_player.run(DUEL_S, until=lambda m: m["type"] == "state")
        bo_player.handle(waiting)
        cy.join(waiting["invite_url"], name="Cy")
        cy_player = DuelPlayer(stack.webs[::-1], cy, pair, where=(48.8, 9.2))
        machine = di.create_duel(opponent="centroid", name="Di")
        di_player = DuelPlayer(stack.webs, di, machine)
        duellists = [bo_player, cy_player, di_player]
        for p in duellists:
            p.hold(from_round=1)
        threads = [p.run_in_thread(DUEL_S) for p in duellists]
        # Killed while round 2 of every duel is open and nobody has guessed it: the worker has
        # started it, so the first daphne owes no message nor timer for anything it committed.
        wait_until(lambda: all(1 in p.started for p in duellists), timeout_s=DUEL_S, what="round 2 to open")
        first.kill()
        report.seen.append(f"{first.name} killed (SIGKILL) as round 2 of every duel opened")
        for p in duellists:
            p.release()
        while state is not None:
            state = ada.play_round(state)
        for t in threads:
            t.join(DUEL_S + 10)

        report.seen.append(
            f"requests that failed and went to {second.name}: {len(ada.failed)}; sockets moved: "
            f"{sum(len(p.reconnects) for p in duellists)}; errors on sockets: "
            f"{[e for p in duellists for e in p.errors]}"
        )
        game = missing_guesses(
            game_guesses(stack.database_url, ada.game), range(ROUNDS), {"human": 1, "machine": 1}
        )
        report.lost += [f"Ada's game: {line}" for line in game]
        for name, duel, players, kinds in (
            ("the Bo-Cy duel", pair, [bo_player, cy_player], {"human": 2}),
            ("Di's duel", machine, [di_player], {"human": 1, "machine": 1}),
        ):
            guesses = duel_guesses(stack.database_url, duel)
            played = sorted({index for index, _, _ in guesses})
            report.lost += [f"{name}: {line}" for line in missing_guesses(guesses, played, kinds)]
            report.lost += [f"{name}: not over for a client" for p in players if p.over is None]
        assert not report.lost, report.text()


@pytest.mark.parametrize(
    "connections",
    [
        # A pool per process (GEOGAME_DB_POOL_SIZE, as docker-compose.yml runs it).
        {"GEOGAME_DB_POOL_SIZE": 3, "GEOGAME_DB_CONN_MAX_AGE": 0},
        # No pool; each thread keeps its connection for a minute.
        {"GEOGAME_DB_POOL_SIZE": 0, "GEOGAME_DB_CONN_MAX_AGE": 60},
    ],
    ids=["pooled", "persistent"],
)
def test_dropped_database_connections_fail_requests_with_503_and_the_stack_recovers(
    tmp_path, redis_server, report, connections
):
    """Pooled connections, then persistent ones without a pool. First pg_terminate_backend on every
    connection of the stack while a request waits for a lock; then a short outage (the database
    refuses connections, ALLOW_CONNECTIONS false); then a machine guess whose worker loses its
    connection mid-task. Requests must fail at once with 503 and a clear error, and everything
    must work again as soon as the database does."""
    import psycopg
    from psycopg import sql

    settings = {**connections, "GEOGAME_ROUNDS_PER_GAME": ROUNDS}
    with production_stack(tmp_path, name="pg-drop", redis_url=redis_server.url(), settings=settings) as stack:
        ada = GamePlayer(stack.webs)
        ada.start(opponent="centroid")
        status, state = ada.state()
        state = ada.play_round(state)  # round 0; round 1 is open now
        # The machine's guess of round 1 (a worker task queued when the round opened) is stored
        # first: a task waiting on the lock below would pass for the request, and the request,
        # not yet waiting when the connections are terminated, would then wait for the lock.
        wait_until(
            lambda: round_guesses(stack.database_url, ada.game, 1),
            timeout_s=scaled(30),
            what="the machine's guess of round 1",
        )
        terminate = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

        # 1. A request waiting for a lock when its connection is terminated.
        answers = {}
        with psycopg.connect(stack.database_url) as lock:
            lock.execute("LOCK TABLE geogame_round IN ACCESS EXCLUSIVE MODE")
            waiting = threading.Thread(target=lambda: answers.update(state=timed(ada.state)))
            waiting.start()
            wait_until(
                lambda: waiting_locks(stack.database_url, "geogame_round"),
                timeout_s=scaled(30),
                what="the request to wait",
            )
            killed = lock.execute(terminate).fetchone()[0]
            waiting.join(REQUEST_S)
            lock.rollback()
        assert not waiting.is_alive(), "the request hung after its connection was terminated"
        (status, body), seconds = answers["state"]
        report.seen.append(
            f"{killed} connections terminated; the waiting request answered {status} in {seconds:.2f} s"
        )
        assert (status, body) == (503, {"error": ERR_DATABASE_UNAVAILABLE})
        for web in stack.webs:  # every process drops its dead connection and opens a new one
            ada.session.base_url = web.url
            assert ada.state()[0] == 200
            assert web.healthz()[0] == 200
        ada.session.base_url = ada.web.url

        # 2. An outage: the database refuses connections for a while.
        admin = server_connection()
        name = sql.Identifier(stack.database_url.rsplit("/", 1)[1])
        try:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [stack.database_url.rsplit("/", 1)[1]],
            )
            during = {
                "GET state": timed(ada.state),
                "POST guess": timed(lambda: ada.guess(state)),
                "GET /": timed(lambda: page(ada.session, "/")),
                "GET /healthz": timed(lambda: stack.webs[1].healthz()),
            }
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
            admin.close()
        for what, ((status, body), seconds) in during.items():
            report.seen.append(f"during the outage: {what} -> {status} in {seconds:.2f} s")
            assert status == 503 and seconds < REQUEST_S, (what, status, body)
        assert during["GET state"][0][1] == {"error": ERR_DATABASE_UNAVAILABLE}
        assert during["GET /"][0][1] == ERR_DATABASE_UNAVAILABLE + "\n"
        assert "database" in during["GET /healthz"][0][1]
        for web in stack.webs:
            wait_until(
                lambda w=web: w.healthz()[0] == 200,
                timeout_s=scaled(30),
                what=f"{web.name}'s /healthz to be 200 again",
            )
        status, reply = ada.guess(state)  # the guess refused during the outage, sent again
        assert status == 201, reply
        ada.opponent_result(timeout_s=scaled(30))

        # 3. A machine guess whose worker loses its connection mid-task.
        with psycopg.connect(stack.database_url) as lock:
            lock.execute("LOCK TABLE geogame_guess IN EXCLUSIVE MODE")
            status, state = ada.next_round()  # round 2: its task waits to store the machine's guess
            assert status == 200, state
            wait_until(
                lambda: waiting_locks(stack.database_url, "geogame_guess"),
                timeout_s=scaled(30),
                what="the task to wait",
            )
            lock.execute(terminate)
            lock.rollback()
        report.seen.append(
            "the worker's connection terminated while it stored the machine's guess for round 2"
        )
        status, reply = ada.guess(state)
        assert status == 201, reply
        try:
            ada.opponent_result(timeout_s=scaled(20))
        except TimeoutError:
            pass  # counted below

        report.lost += missing_guesses(
            game_guesses(stack.database_url, ada.game), range(ROUNDS), {"human": 1, "machine": 1}
        )
        assert not report.lost, report.text()


def test_a_pool_bounds_each_process_connections_and_requests_wait_their_turn(tmp_path, redis_server, report):
    """GEOGAME_DB_POOL_SIZE=3: twelve requests at once to one daphne, each stopped by a lock on the
    table it reads. Without a pool each would hold a connection of its own (twelve); with it, three
    hold one and wait for the lock, the others wait for the pool, and no process ever has more than
    three. When the lock goes, every request is answered."""
    import psycopg

    pool_size, requests = 3, 12
    settings = {
        "GEOGAME_DB_POOL_SIZE": pool_size,
        "GEOGAME_DB_POOL_TIMEOUT_S": scaled(30),  # waiting for the pool is what is tested, not its timeout
        "GEOGAME_ROUNDS_PER_GAME": ROUNDS,
    }
    with production_stack(
        tmp_path, name="pool", redis_url=redis_server.url(), web=1, workers=1, settings=settings
    ) as stack:
        ada = GamePlayer(stack.webs)
        ada.start(opponent="")
        assert ada.state()[0] == 200
        web = "geogame web.1"  # tools/stack.py names each process's connections (application_name)
        waiting = (
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.relation = 'geogame_round'::regclass AND NOT l.granted AND a.application_name = %s"
        )
        opened = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s"
        )
        answers = []
        with (
            psycopg.connect(stack.database_url, autocommit=True) as lock,
            psycopg.connect(stack.database_url, autocommit=True) as watch,
        ):
            lock.execute("BEGIN")
            lock.execute("LOCK TABLE geogame_round IN ACCESS EXCLUSIVE MODE")
            threads = [threading.Thread(target=lambda: answers.append(ada.state())) for _ in range(requests)]
            for t in threads:
                t.start()
            wait_until(
                lambda: watch.execute(waiting, [web]).fetchone()[0] == pool_size,
                timeout_s=scaled(30),
                what=f"{pool_size} of the daphne's requests to wait for the lock",
            )
            # Watch a while longer: no further request gets a connection while the pool's are held.
            seen_waiting, seen_connections = set(), set()
            deadline = time.monotonic() + scaled(2)
            while time.monotonic() < deadline:
                seen_waiting.add(watch.execute(waiting, [web]).fetchone()[0])
                seen_connections.add(watch.execute(opened, [web]).fetchone()[0])
            lock.execute("ROLLBACK")
        for t in threads:
            t.join(scaled(30))
        report.seen.append(
            f"{requests} requests at once to one daphne: at most {max(seen_waiting)} waited for the lock "
            f"and {max(seen_connections)} connections were open, with a pool of {pool_size}"
        )
        assert max(seen_waiting) == pool_size
        assert max(seen_connections) <= pool_size
        assert not any(t.is_alive() for t in threads), "a request never got its connection"
        assert sorted(status for status, _ in answers) == [200] * requests, answers


def timed(call):
    """(what `call` returned, seconds it took)."""
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def page(session, path):
    """(status, text) of a page."""
    import urllib.error

    try:
        with session.opener.open(session.base_url + path, timeout=REQUEST_S * 2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
