"""The ranked queue (/ws/ranked/queue/<map>/) on the real stack: two daphne processes on PostgreSQL
and a private redis-server (harness/production_stack.py), `websockets` clients with accounts'
session cookies (harness/ranked_queue.py). Players joining on different processes are paired into
one ranked duel, nobody twice; one alone plays a machine after GEOGAME_RANKED_QUEUE_MACHINE_S; a
socket that closes leaves the queue; bad input gets an error with its reason, never a 1011 close."""

import json
import threading

import pytest

from geogame.duels import queue_protocol as qp
from harness.production_stack import missing_services, private_redis, production_stack, query
from harness.ranked_queue import QueueClient, make_accounts
from tests.conftest import scaled
from tools.stack import wait_until

pytestmark = [pytest.mark.stack, pytest.mark.timeout(int(scaled(400)))]

MACHINE_S = 5.0
WAIT_S = scaled(20)
MAP = "fixture-world"


# The random player ("Dart") rated 2400 on the map: the machine closest to a 2300 player (the
# other machines are unrated, 1500).
MACHINE_RATING = """
from geogame.game.machines import artefact, machine_player_get
from geogame.maps.models import Map
from geogame.ranked.models import Rating
m = Map.objects.get(slug="fixture-world")
Rating.objects.create(
    player=machine_player_get("random"), map=m, artefact=artefact("random", m), rating=2400.0, deviation=80.0
)
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = missing_services()
    if missing:
        pytest.skip("the ranked queue's stack needs " + "; ".join(missing))
    workdir = tmp_path_factory.mktemp("queue")
    with private_redis(workdir / "redis") as redis_server:
        settings = {"GEOGAME_RANKED_QUEUE_MACHINE_S": MACHINE_S, "GEOGAME_RANKED_QUEUE_TICK_S": 0.1}
        with production_stack(
            workdir, name="queue", redis_url=redis_server.url(), web=2, workers=0, settings=settings
        ) as s:
            names = [f"p{i}" for i in range(24)]
            s.accounts = make_accounts(
                s,
                [(n, 1500.0 + 5 * i) for i, n in enumerate(names)]
                + [("high", 2300.0), ("g1", 3000.0), ("g2", 600.0), ("b3k", 3010.0)],
            )
            s.manage("shell", "-c", MACHINE_RATING)
            s.free = iter(names)
            import redis

            s.redis = redis.Redis.from_url(redis_server.url())
            yield s


def accounts(stack, n):
    return [next(stack.free) for _ in range(n)]


def waiting(stack):
    """Player ids waiting on the map, read from Redis."""
    return {int(k) for k in stack.redis.hkeys(f"{stack.queue}:ranked-queue:{MAP}")}


def client(stack, name, web=0, **kw):
    return QueueClient(stack.webs[web].url, stack.accounts[name]["session"] if name else None, **kw)


def duel_row(stack, public_id):
    rows = query(
        stack.database_url,
        """SELECT d.ranked, d.status, array_agg(s.player_id ORDER BY s.seat),
                  array_agg(p.kind ORDER BY s.seat)
           FROM geogame_duel d JOIN geogame_duelseat s ON s.duel_id = d.id
           JOIN players_player p ON p.id = s.player_id WHERE d.public_id = %s GROUP BY d.id""",
        [public_id],
    )
    return rows[0] if rows else None


def test_two_players_on_two_daphne_processes_are_paired_into_one_ranked_duel(stack):
    ada, bo = accounts(stack, 2)
    a = client(stack, ada, web=0)
    queued = a.until_type("queued")
    assert queued["window"] > 0 and queued["machine_after_s"] == MACHINE_S and queued["rating"] >= 1500
    b = client(stack, bo, web=1)
    got_a, got_b = a.until_type("matched", WAIT_S), b.until_type("matched", WAIT_S)
    assert got_a["duel"] == got_b["duel"] and got_a["url"] == f"/duels/{got_a['duel']}/"
    assert got_a["opponent"]["kind"] == "human" and got_a["opponent"]["name"] == bo
    assert got_b["opponent"]["name"] == ada and got_a["waited_s"] < MACHINE_S
    assert a.closed_with() == 1000 and b.closed_with() == 1000
    ranked, status, players, kinds = duel_row(stack, got_a["duel"])
    assert ranked and status == "active" and kinds == ["human", "human"]
    assert players == [stack.accounts[ada]["player"], stack.accounts[bo]["player"]]
    # The session the socket had now opens the duel's page (its seat is found by it).
    from harness.duel_stack import Session

    page = Session(stack.webs[1].url)
    page.jar.set_cookie(_cookie("sessionid", stack.accounts[bo]["session"]))
    url, body = page.get(got_b["url"])
    assert url.endswith(got_b["url"]) and "duel" in body
    assert not waiting(stack) & {stack.accounts[n]["player"] for n in (ada, bo)}


def _cookie(name, value):
    import http.cookiejar

    return http.cookiejar.Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {}
    )


def test_players_joining_at_once_on_both_processes_are_each_paired_exactly_once(stack):
    names = accounts(stack, 10)
    clients, results, errors = {}, {}, []

    def join(i, name):
        try:
            c = clients[name] = client(stack, name, web=i % 2)
            results[name] = c.until_type("matched", WAIT_S)
        except Exception as exc:
            errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=join, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    duels = {}
    for name, msg in results.items():
        duels.setdefault(msg["duel"], []).append(name)
    assert sorted(len(v) for v in duels.values()) == [2] * 5, duels
    for duel, pair in duels.items():
        ranked, status, players, kinds = duel_row(stack, duel)
        assert ranked and kinds == ["human", "human"]
        assert sorted(players) == sorted(stack.accounts[n]["player"] for n in pair)
    for c in clients.values():
        assert c.closed_with() == 1000


def test_a_player_alone_plays_the_closest_machine_after_the_wait(stack):
    cy = "high"
    c = client(stack, cy, web=1)
    assert c.until_type("queued")["rating"] == 2300
    matched = c.until_type("matched", MACHINE_S + WAIT_S)
    assert matched["opponent"] == {"kind": "machine", "name": "Dart", "rating": 2400}
    assert matched["waited_s"] >= MACHINE_S
    ranked, status, players, kinds = duel_row(stack, matched["duel"])
    assert ranked and status == "active" and kinds == ["human", "machine"]
    assert players[0] == stack.accounts[cy]["player"]
    assert c.closed_with() == 1000


def test_a_socket_that_closes_or_leaves_is_out_of_the_queue_and_never_paired(stack):
    ada, bo = accounts(stack, 2)
    a = client(stack, ada, web=0)
    a.until_type("queued")
    assert stack.accounts[ada]["player"] in waiting(stack)
    a.close()  # the tab is closed: it leaves the queue
    wait_until(
        lambda: stack.accounts[ada]["player"] not in waiting(stack), timeout_s=WAIT_S, what="the entry to go"
    )
    b = client(stack, bo, web=1)
    b.until_type("queued")
    assert waiting(stack) == {stack.accounts[bo]["player"]}  # nobody left to pair with
    b.send({"type": "leave"})
    assert b.until_type("left") == {"type": "left"}
    assert b.closed_with() == 1000 and not waiting(stack)


def test_bad_input_gets_an_error_with_its_reason_never_a_1011(stack):
    anonymous = client(stack, None)
    assert anonymous.recv() == {"type": "error", "reason": qp.ERR_NO_ACCOUNT}
    assert anonymous.closed_with() == qp.CLOSE_NO_ACCOUNT

    ada, bo = accounts(stack, 2)
    unknown = client(stack, ada, map_slug="no-such-map")
    assert unknown.recv() == {"type": "error", "reason": qp.ERR_NO_MAP}
    assert unknown.closed_with() == qp.CLOSE_NO_MAP

    first = client(stack, ada, web=0)
    first.until_type("queued")
    twice = client(stack, ada, web=1)  # the same account in another tab, on the other process
    assert twice.recv() == {"type": "error", "reason": qp.ERR_TWICE}
    assert twice.closed_with() == qp.CLOSE_TWICE
    assert stack.accounts[ada]["player"] in waiting(stack)  # the first socket still waits

    forged = [
        ("not json", qp.ERR_NOT_JSON),
        (b"\x00\x01", qp.ERR_BINARY),
        ("[1, 2]", qp.ERR_NOT_OBJECT),
        ('{"type": 7}', qp.ERR_NOT_OBJECT),
        ('{"type": "matched", "duel": "x"}', qp.ERR_UNKNOWN_TYPE.format(type="matched")),
        ('{"type": "pair", "with": 1}', qp.ERR_UNKNOWN_TYPE.format(type="pair")),
        ('{"type": "leave", "player": 3}', qp.ERR_UNEXPECTED.format(field="player")),
        ("x" * (qp.MAX_MESSAGE_CHARS + 1), qp.ERR_TOO_LONG),
        ("[" * 40 + "]" * 40, None),  # too deep: json_input's reason
    ]
    for text, reason in forged:
        first.send(text)
        reply = first.until_type("error")
        assert reason is None or reply["reason"] == reason, (text, reply)
    assert stack.accounts[ada]["player"] in waiting(stack)  # nothing changed

    # Leaving mid-match: a matched player who closes at once leaves a duel that goes on (rated
    # when it ends, a missed round a forfeit); the other still gets it.
    b = client(stack, bo, web=1)
    got = b.until_type("matched", WAIT_S)
    first.close()
    ranked, status, players, kinds = duel_row(stack, got["duel"])
    assert ranked and status == "active" and players[0] == stack.accounts[ada]["player"]
    assert b.closed_with() == 1000
    logs = "\n".join(w.log() for w in stack.webs)
    assert "Traceback" not in logs, logs[-5000:]


def test_many_messages_are_refused_then_the_socket_closed_with_4429(stack):
    (ada,) = accounts(stack, 1)
    c = client(stack, ada)
    c.until_type("queued")
    for _ in range(200):
        try:
            c.send(json.dumps({"type": "nonsense"}))
        except Exception:
            break
    assert c.closed_with() == 4429
    assert any(m.get("reason", "").startswith("rate_limited") for m in c.seen)
    wait_until(lambda: stack.accounts[ada]["player"] not in waiting(stack), timeout_s=WAIT_S, what="leave")


def test_entries_of_a_killed_daphne_are_never_paired_and_their_players_may_join_again(stack):
    g1, g2 = client(stack, "g1", web=0), client(stack, "g2", web=0)  # 2400 apart: both wait
    g1.until_type("queued"), g2.until_type("queued")
    stack.webs[0].kill()  # no socket of it can leave: their entries stay behind
    ghosts = {stack.accounts[n]["player"] for n in ("g1", "g2")}
    assert ghosts <= waiting(stack)
    alive = f"{stack.queue}:ranked-queue-alive:*"
    wait_until(
        lambda: not list(stack.redis.scan_iter(alive)), timeout_s=scaled(30), what="the process to expire"
    )
    again = client(stack, "g1", web=1)  # its stale entry is replaced, not refused as a second socket
    again.until_type("queued")
    # The first pairing on daphne 2 drops g2's stale entry instead of pairing it or sending it to a machine.
    wait_until(
        lambda: stack.accounts["g2"]["player"] not in waiting(stack), timeout_s=WAIT_S, what="g2 dropped"
    )
    b = client(stack, "b3k", web=1)
    got = b.until_type("matched", WAIT_S)
    assert got["opponent"]["name"] == "g1" and again.until_type("matched", WAIT_S)["duel"] == got["duel"]
    assert "g2" not in {m["opponent"]["name"] for m in again.seen + b.seen if m["type"] == "matched"}
