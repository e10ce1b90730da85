"""The ranked queue without REDIS_URL: one daphne keeps it in process (one lock), over SQLite,
with the in-memory channel layer (harness/duel_stack.py). Pairing, the machine after the wait,
joining twice and leaving work as they do on Redis (tests/test_ranked_queue.py)."""

from types import SimpleNamespace

import pytest

from geogame.duels import queue_protocol as qp
from harness.duel_stack import prepare_database, running_stack
from harness.live_server import server_env
from harness.ranked_queue import QueueClient, make_accounts
from tests.conftest import scaled
from tools.stack import manage

pytestmark = pytest.mark.timeout(int(scaled(300)))
MACHINE_S = 3.0
WAIT_S = scaled(20)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = prepare_database(tmp_path_factory.mktemp("queue-memory"))
    settings = {"GEOGAME_RANKED_QUEUE_MACHINE_S": MACHINE_S, "GEOGAME_RATE_LIMIT_QUEUE_SESSION": "3/600"}
    env = server_env(workdir)
    accounts = make_accounts(SimpleNamespace(manage=lambda *a: manage(env, *a)), [(n, None) for n in "abcde"])
    with running_stack(workdir, name="queue-memory", settings=settings) as s:
        s.accounts = accounts
        yield s


def client(stack, name):
    return QueueClient(stack.url, stack.accounts[name]["session"])


def test_in_process_the_queue_pairs_refuses_a_second_socket_and_falls_back_to_a_machine(stack):
    a = client(stack, "a")
    assert a.until_type("queued")["rating"] == 1500
    twice = client(stack, "a")
    assert twice.recv() == {"type": "error", "reason": qp.ERR_TWICE}
    assert twice.closed_with() == qp.CLOSE_TWICE
    b = client(stack, "b")
    got_a, got_b = a.until_type("matched", WAIT_S), b.until_type("matched", WAIT_S)
    assert got_a["duel"] == got_b["duel"] and got_a["opponent"]["kind"] == "human"

    c = client(stack, "c")
    c.until_type("queued")
    c.send({"type": "leave"})
    assert c.until_type("left") == {"type": "left"}  # out: d, joining after, waits alone for a machine
    d = client(stack, "d")
    matched = d.until_type("matched", MACHINE_S + WAIT_S)
    assert matched["opponent"]["kind"] == "machine" and matched["waited_s"] >= MACHINE_S
    assert d.closed_with() == 1000
    assert "Traceback" not in stack.daphne_log.read_text()


def test_joins_are_limited_per_session_with_the_wait_in_the_error(stack):
    for _ in range(3):
        e = client(stack, "e")
        e.until_type("queued")
        e.send({"type": "leave"})
        assert e.closed_with() == 1000
    e = client(stack, "e")
    reply = e.recv()
    assert reply["type"] == "error" and reply["reason"].startswith("too many joins of the ranked queue")
    assert e.closed_with() == 4429
