"""Duels over real WebSockets: a real daphne, a real Redis channel layer and a real Celery
worker (subprocesses, harness/duel_stack.py), driven by `websockets` clients holding the
session cookies that the lobby's HTTP pages gave them.

Scores, damage and health are recomputed here with plain math, independently of geogame's
code. The clock is short (the stack's settings below), so a whole duel takes seconds.
"""

import math
import os
import re
import signal
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from geogame.duels import protocol as protocol
from geogame.duels import services as services
from geogame.game import services as game_services
from harness.duel_stack import Client, Session, prepare_database, running_stack
from harness.worker import redis_answers, redis_url_with_db
from tests.conftest import scaled

pytestmark = pytest.mark.redis

# Shared with whatever else uses it: each stack has its own queue and channel prefix (harness/duel_stack.py).
REDIS_DB = 9
ROUND_S = 4
GRACE_S = 0.3
THINK_S = 0.4
MAX_ROUNDS = 8
FAST = {
    "GEOGAME_DUEL_ROUND_S": ROUND_S,
    "GEOGAME_DEADLINE_GRACE_S": GRACE_S,
    "GEOGAME_MACHINE_THINK_S": THINK_S,
    "GEOGAME_DUEL_START_S": 1.0,  # the socket is connected by then (see first_open_round)
    "GEOGAME_DUEL_INTERMISSION_S": 0.3,
    "GEOGAME_DUEL_MAX_ROUNDS": MAX_ROUNDS,
}
WORLD_SCALE_KM = 14916.862
FAR_AWAY = (-45.0, -150.0)  # the South Pacific: far from every fixture city
EVENT_KEYS = {"type", "version", "at"}


# -- Scoring, damage and health written out again ---------------------------------------------------


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def expected_points(answer, guess):
    d = haversine_km(answer["lat"], answer["lon"], guess[0], guess[1])
    return 5000 if d <= 0.025 else round(5000 * math.exp(-10 * d / WORLD_SCALE_KM))


def expected_multiplier(number):
    return 1.0 if number < 5 else 1.0 + 0.5 * (number - 4)


def expected_damage(points, number):
    diff = abs(points[0] - points[1])
    amount = int((Decimal(diff) * Decimal(str(expected_multiplier(number)))).quantize(0, ROUND_HALF_UP))
    return [amount if points[0] < points[1] else 0, amount if points[1] < points[0] else 0]


def by_seat(result):
    return {g["seat"]: g for g in result["guesses"]}


def check_result(result, health, my_guess=None):
    """Check a round_result against the rules; return the health after it."""
    guesses = by_seat(result)
    points = []
    for side in (0, 1):
        g = guesses[side]
        if g["timed_out"]:
            assert g["points"] == 0 and g["lat"] is None
        else:
            assert g["points"] == expected_points(result["answer"], (g["lat"], g["lon"]))
        points.append(g["points"])
    if my_guess is not None:
        assert (guesses[0]["lat"], guesses[0]["lon"]) == my_guess
    assert result["multiplier"] == expected_multiplier(result["number"])
    damage = expected_damage(points, result["number"])
    assert result["damage"] == damage
    after = [max(0, h - d) for h, d in zip(health, damage, strict=True)]
    assert result["health"] == after
    return after


def answer_of(stack_dir, round_public):
    """Where a round is, read from the database by the round's opaque image key (the test may
    peek; clients may not)."""
    key = re.match(r"/img/([^/]+)/", round_public["views"][0]["url"])[1]
    db = sqlite3.connect(f"file:{stack_dir / 'db.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(
            "SELECT l.lat, l.lon FROM geogame_round r JOIN geogame_location l ON l.id = r.location_id "
            "WHERE r.image_key = ?",
            (key,),
        ).fetchone()
    finally:
        db.close()


def events(client):
    return [m for m in client.seen if m["type"] in protocol.EVENTS]


def drain(client, quiet_s=0.5):
    """Receive whatever arrives until the socket has been quiet for `quiet_s`."""
    while True:
        try:
            client.recv(timeout=quiet_s)
        except TimeoutError:
            return


# -- Fixtures ---------------------------------------------------------------------------------------


def redis_url_or_skip():
    url = redis_url_with_db(REDIS_DB)
    if not redis_answers(url):
        pytest.skip(f"no Redis answers at {url} (set REDIS_URL, or start redis-server on 127.0.0.1:6379)")
    return url


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory):
    redis_url_or_skip()
    return prepare_database(tmp_path_factory.mktemp("duels"))


@pytest.fixture(scope="module")
def stack(stack_dir):
    with running_stack(stack_dir, name="duels", redis_url=redis_url_or_skip(), settings=FAST) as s:
        yield s


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        for name in ("stack", "slow_stack"):
            if name in request.fixturenames:
                print(request.getfixturevalue(name).logs()[-30000:])


def human_duel(stack, *, third_seat=""):
    """Ada invites Bo; both are connected once Bo has joined. Returns (ada, bo, ada's socket, bo's socket)."""
    ada, bo = Session(stack.url), Session(stack.url)
    duel = ada.create_duel(opponent=services.HUMAN, name="Ada", third_seat=third_seat)
    ca = Client(stack, ada, duel)
    state = ca.until_type("state")
    assert state["status"] == "waiting" and state["invite_url"]
    assert bo.join(state["invite_url"], name="Bo") == duel
    cb = Client(stack, bo, duel)
    return ada, bo, ca, cb


def first_open_round(client):
    """The round being played: from the state on connect (a slow connect may miss its
    round_started), or the next round_started."""
    state = next(m for m in client.seen if m["type"] == "state")
    if state["round"] is not None and state["round_open"]:
        return state["round"]
    return client.until_type("round_started")["round"]


# -- Tests ------------------------------------------------------------------------------------------


def test_a_full_duel_against_the_centroid_player_ends_with_the_health_the_rules_give(stack, stack_dir):
    ada = Session(stack.url)
    duel = ada.create_duel(opponent="centroid")
    client = Client(stack, ada, duel)
    state = client.until_type("state")
    assert state["you"] == 0 and [s["name"] for s in state["seats"]] == ["Ada", "Middle (machine)"]
    assert state["health"] == [6000, 6000] and state["max_rounds"] == MAX_ROUNDS

    health, rnd, number = [6000, 6000], first_open_round(client), 0
    while True:
        number += 1
        assert rnd["number"] == number
        # Right on odd rounds, far off on even ones, so the duel lasts into the multiplied rounds.
        guess = tuple(answer_of(stack_dir, rnd)) if number % 2 else FAR_AWAY
        client.guess(rnd["index"], *guess, views_seen=[0])
        result = client.until_type("round_result", round=rnd["index"])
        health = check_result(result, health, my_guess=guess)
        nxt = client.until(lambda m: m["type"] in ("round_started", "duel_over"), what="a round or the end")
        if nxt["type"] == "duel_over":
            break
        rnd = nxt["round"]

    over = nxt
    assert over["health"] == health
    if min(health) == 0:
        assert over["reason"] == "knockout" and over["winner"] == (0 if health[1] == 0 else 1)
    else:
        assert number == MAX_ROUNDS and over["reason"] == "last_round"
        assert over["winner"] == (None if health[0] == health[1] else (0 if health[0] > health[1] else 1))

    # Every event arrived, numbered one after another; none said where the machine guessed.
    versions = sorted(m["version"] for m in events(client))
    assert versions == list(range(state["version"] + 1, over["version"] + 1))
    for m in events(client):
        if m["type"] == "opponent_guessed":
            assert set(m) == EVENT_KEYS | {"round", "seat", "deadline"}
        if m["type"] == "round_started":
            assert set(m["round"]) == {"index", "number", "views", "started_at", "deadline", "panorama"}
            assert m["round"]["panorama"] is None  # a duel never offers the pannable view
    # The machine's announcements and the round timers ran in the Celery worker and reached
    # this socket through the Redis channel layer.
    log = stack.workers.logs()
    assert re.search(r"Task geogame\.duel_machine_announce\[[0-9a-f-]+\] succeeded", log)
    assert re.search(r"Task geogame\.duel_tick\[[0-9a-f-]+\] succeeded", log)


def test_a_machine_guess_is_announced_after_the_thinking_delay_and_revealed_only_in_the_result(stack):
    ada = Session(stack.url)
    client = Client(stack, ada, ada.create_duel(opponent="centroid"))
    state = client.until_type("state")
    rnd = first_open_round(client)
    assert 1 not in state["guessed"], "the machine announced before the socket connected; raise START_S"
    announced = client.until_type("opponent_guessed", seat=1)
    assert announced["version"] == client.seen[-2]["version"] + 1  # right after round_started (or the state)
    started_at = datetime.fromisoformat(rnd["started_at"]).timestamp()
    assert announced["at"] - started_at >= THINK_S - 0.01  # never before the views are out
    assert "lat" not in announced and "lon" not in announced
    client.guess(rnd["index"], *FAR_AWAY)
    result = client.until_type("round_result")
    assert by_seat(result)[1]["lat"] is not None


def test_a_round_nobody_answers_ends_at_the_deadline_and_the_duel_goes_on(stack):
    ada = Session(stack.url)
    client = Client(stack, ada, ada.create_duel(opponent="centroid"))
    client.until_type("state")
    rnd = first_open_round(client)
    result = client.until_type("round_result", timeout=ROUND_S + 10)  # no message sent: the server's timer
    ended = datetime.fromisoformat(rnd["deadline"]).timestamp() + GRACE_S
    assert result["at"] >= ended
    mine, machine = by_seat(result)[0], by_seat(result)[1]
    assert mine["timed_out"] and mine["points"] == 0 and mine["lat"] is None
    assert not machine["timed_out"]
    assert result["damage"] == [machine["points"], 0]
    assert result["health"] == [6000 - machine["points"], 6000]
    nxt = client.until_type("round_started")
    assert nxt["round"]["index"] == rnd["index"] + 1
    # The round is over for good: a late guess is refused.
    client.guess(rnd["index"], 10.0, 10.0)
    reply = client.reply()
    assert (reply["type"], reply["reason"]) == ("error", services.ERR_ROUND_OVER.format(round=0))


def test_invalid_messages_get_an_error_with_a_reason_and_change_nothing(stack):
    ada, bo, ca, cb = human_duel(stack)
    started = ca.until_type("round_started")
    index = started["round"]["index"]
    other_duel = Session(stack.url).create_duel(opponent="centroid")
    guess = {"type": "guess", "round": index, "lat": 48, "lon": 9}
    cases = [
        ("{not json", protocol.ERR_NOT_JSON),
        ('{"type": "guess", "round": 0, "lat": NaN, "lon": 0}', protocol.ERR_NOT_JSON),
        ("[1, 2]", protocol.ERR_NOT_OBJECT),
        ('{"lat": 1}', protocol.ERR_NO_TYPE),
        ({"type": "resign"}, protocol.ERR_UNKNOWN_TYPE.format(type="resign")),
        ({**guess, "lat": 91}, protocol.ERR_LAT_RANGE.format(value=91)),
        ({**guess, "lon": -180.5}, protocol.ERR_LON_RANGE.format(value=-180.5)),
        ({**guess, "lat": "48"}, protocol.ERR_NUMBER),
        # Issue 20: a 400-digit number closed the socket with 1011; deep nesting raised RecursionError.
        ('{"type": "guess", "round": 0, "lat": %s, "lon": 0}' % ("9" * 400), protocol.ERR_BIG_INT),
        ("[" * 1999, protocol.ERR_TOO_DEEP),
        ("[" * 17 + "]" * 17, protocol.ERR_TOO_DEEP),
        ({"type": "guess", "round": index, "lat": 4}, protocol.ERR_MISSING.format(type="guess", field="lon")),
        ({**guess, "round": "0"}, protocol.ERR_ROUND),
        ({**guess, "cheat": 1}, protocol.ERR_UNEXPECTED.format(field="cheat", type="guess")),
        ({**guess, "round": index + 5}, services.ERR_ROUND_NOT_STARTED.format(round=index + 5)),
        ({**guess, "duel": other_duel}, services.ERR_OTHER_DUEL.format(duel=ca.duel_id)),
        ({**guess, "views_seen": [7]}, game_services.ERR_BAD_VIEWS),
        ("x" * (protocol.MAX_MESSAGE_CHARS + 1), protocol.ERR_TOO_LONG),
        (b"\x00\x01", protocol.ERR_BINARY),
    ]
    for raw, reason in cases:
        ca.send(raw)
        reply = ca.reply()
        assert (reply["type"], reply["reason"]) == ("error", reason), raw
        assert reply["version"] == started["version"]

    ca.send({"type": "sync"})
    state = ca.reply()
    assert state["type"] == "state" and state["version"] == started["version"]
    assert state["round_open"] and state["guessed"] == [] and state["your_guess"] is None
    assert state["health"] == [6000, 6000]
    drain(cb)
    assert {m["type"] for m in events(cb)} <= {"round_started"}  # the other side heard nothing

    # The socket still plays: both guess, the round ends, and a guess for it is refused.
    ca.guess(index, 48.0, 9.0)
    assert ca.reply()["created"] is True
    cb.guess(index, 1.3, 103.8)
    result = cb.until_type("round_result", round=index)
    check_result(result, [6000, 6000], my_guess=(48.0, 9.0))
    ca.until_type("round_result", round=index)
    ca.guess(index, 48.0, 9.0)
    assert ca.reply()["reason"] == services.ERR_ROUND_OVER.format(round=index)


def test_a_socket_is_refused_without_a_seat_in_that_duel_or_from_another_site(stack):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ada, stranger = Session(stack.url), Session(stack.url)
    duel = ada.create_duel(opponent="centroid")
    stranger.create_duel(opponent="centroid")  # a session with a player, but no seat in `duel`
    attempts = [
        {"origin": stack.url, "additional_headers": {"Cookie": stranger.cookie_header()}},
        {"origin": stack.url},  # no session at all
        {"origin": "http://evil.example", "additional_headers": {"Cookie": ada.cookie_header()}},
    ]
    for kwargs in attempts:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{stack.ws_url}/ws/duel/{duel}/", proxy=None, open_timeout=10, legacy=True, **kwargs)
        assert refused.value.response.status_code == 403
    # The stranger's guess can't reach the duel, and Ada's own socket still works.
    client = Client(stack, ada, duel)
    assert client.until_type("state")["seats"][0]["name"] == "Ada"


def test_a_socket_to_an_unknown_path_is_closed_with_4404_not_a_500(stack):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    for path in ("/ws/nope/", "/ws/duel/not-a-duel-id/"):
        url = f"{stack.ws_url}{path}"
        with connect(url, origin=stack.url, proxy=None, open_timeout=10, legacy=True) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4404, path


def test_a_player_who_reconnects_mid_round_gets_the_whole_state_and_plays_on(stack):
    ada = Session(stack.url)
    duel = ada.create_duel(opponent="centroid")
    first = Client(stack, ada, duel)
    first.until_type("state")
    rnd = first_open_round(first)
    first.close()

    again = Client(stack, ada, duel)
    state = again.until_type("state")
    assert state["round"] == rnd and state["round_open"]
    assert state["health"] == [6000, 6000] and state["results"] == []
    assert state["guessed"] in ([], [1])  # the machine may have announced meanwhile
    again.guess(rnd["index"], *FAR_AWAY)
    assert again.reply()["created"] is True
    result = again.until_type("round_result", round=rnd["index"])
    check_result(result, [6000, 6000], my_guess=FAR_AWAY)
    assert again.until_type("round_started")["round"]["index"] == rnd["index"] + 1

    # Reconnecting between rounds shows the results so far.
    again.close()
    third = Client(stack, ada, duel)
    state = third.until_type("state")
    assert state["results"][0] == {
        k: v for k, v in result.items() if k not in ("type", "version", "at", "next_round_at")
    }
    assert state["health"] == result["health"]


def test_two_tabs_of_one_player_see_the_same_duel_and_a_guess_sent_twice_counts_once(stack):
    ada, bo, tab1, cb = human_duel(stack)
    tab2 = Client(stack, ada, tab1.duel_id)
    assert tab2.until_type("state")["you"] == 0
    index = first_open_round(tab1)["index"]
    assert first_open_round(tab2)["index"] == index

    tab1.guess(index, 48.0, 9.0)
    assert tab1.reply()["created"] is True
    tab1.guess(index, 48.0, 9.0)  # the same guess again
    assert tab1.reply()["created"] is False
    seen_by_tab2 = tab2.until_type("opponent_guessed", seat=0)  # its own seat: the tab learns it guessed
    assert seen_by_tab2["round"] == index
    tab2.guess(index, -33.9, 151.2)  # another answer from the other tab: the first one stands
    assert tab2.reply()["created"] is False
    assert cb.until_type("opponent_guessed", seat=0)["round"] == index

    cb.guess(index, 52.1, 9.3)
    results = [c.until_type("round_result", round=index) for c in (tab1, tab2, cb)]
    assert results[0] == results[1] == results[2]
    assert (by_seat(results[0])[0]["lat"], by_seat(results[0])[0]["lon"]) == (48.0, 9.0)
    check_result(results[0], [6000, 6000], my_guess=(48.0, 9.0))
    # Nobody saw an event twice or missed one.
    for c in (tab1, tab2, cb):
        versions = [m["version"] for m in events(c)]
        assert versions == list(range(versions[0], versions[0] + len(versions)))


def test_a_machine_can_guess_along_in_a_duel_between_two_humans(stack):
    ada, bo, ca, cb = human_duel(stack, third_seat="centroid")
    state = next(m for m in ca.seen if m["type"] == "state")
    assert [(s["seat"], s["side"]) for s in state["seats"]] == [(0, True), (1, True), (2, False)]
    rnd = ca.until_type("round_started")["round"]
    machine = ca.until_type("opponent_guessed", seat=2)
    assert machine["deadline"] == rnd["deadline"]  # only a side's guess shortens the clock
    ca.guess(rnd["index"], 48.0, 9.0)
    cb.guess(rnd["index"], *FAR_AWAY)
    result = cb.until_type("round_result", round=rnd["index"])
    assert set(by_seat(result)) == {0, 1, 2}
    check_result(result, [6000, 6000], my_guess=(48.0, 9.0))  # damage between the two sides only


# -- A slow worker ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    """Its own daphne, worker and database, with 2 s rounds; the test freezes the worker
    (SIGSTOP). Its own database: another stack's worker would sweep its duels along."""
    workdir = prepare_database(tmp_path_factory.mktemp("slow-duels"))
    settings = {**FAST, "GEOGAME_DUEL_ROUND_S": 2}
    with running_stack(workdir, name="slow", redis_url=redis_url_or_skip(), settings=settings) as s:
        yield s


@contextmanager
def frozen(workers):
    """The workers stopped (SIGSTOP), as under a load that starves them: no task, no timer, no
    sweep runs until the block ends (SIGCONT). Each worker is a process group of its own."""
    groups = [w.pid for w in workers.started]
    for pgid in groups:
        os.killpg(pgid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pgid in groups:
            os.killpg(pgid, signal.SIGCONT)


def catch_up_until(stack, session, duel_id, predicate, what, timeout_s=15):
    """Connect again and again (each connect makes daphne do what is due, consumers._state) until
    the state on connect satisfies `predicate`; return (client, state). Only for a stack whose
    workers are frozen: without them, nothing else advances the duel."""
    deadline = time.monotonic() + timeout_s
    while True:
        client = Client(stack, session, duel_id)
        state = client.until_type("state")
        if predicate(state):
            return client, state
        client.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no state with {what} within {timeout_s} s; last: {state}")
        time.sleep(0.2)  # the pause between polls; the deadline above bounds the wait


def test_a_machine_too_slow_for_the_deadline_scores_zero_and_the_duel_goes_on(slow_stack):
    ada = Session(slow_stack.url)
    with frozen(slow_stack.workers):
        duel_id = ada.create_duel(opponent="centroid")
        client, state = catch_up_until(slow_stack, ada, duel_id, lambda s: s["round_open"], "round 1 open")
        rnd = state["round"]
        client.guess(rnd["index"], 48.0, 9.0)
        client.until_type("opponent_guessed", seat=0)
        client.close()
        # The round's clock runs out while the worker that holds the machine's guess task is frozen.
        client, state = catch_up_until(
            slow_stack, ada, duel_id, lambda s: len(s["results"]) == 1, "round 1 over"
        )
    result = state["results"][0]
    machine = by_seat(result)[1]
    assert machine["timed_out"] and machine["points"] == 0 and machine["lat"] is None, by_seat(result)
    health = check_result(result, [6000, 6000], my_guess=(48.0, 9.0))
    assert health[0] == 6000 and health[1] < 6000

    # The worker is back: the duel goes on, on its timers.
    rnd = client.until_type("round_started")["round"]
    assert rnd["number"] == 2
    client.guess(rnd["index"], 48.0, 9.0)
    result = client.until_type("round_result", round=rnd["index"], timeout=scaled(15))
    check_result(result, health, my_guess=(48.0, 9.0))

    # The late answer for round 1 came, and was dropped: never announced, never scored.
    # A task's "succeeded" line is logged after its result went out: read the logs until both are there.
    deadline = time.monotonic() + scaled(15)
    while True:
        logs = slow_stack.workers.logs()
        done = re.findall(r"Task geogame\.duel_machine_guess\[[0-9a-f-]+\] succeeded", logs)
        if len(done) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(done) >= 2, logs
    drain(client)
    announced = [(m["round"], m["seat"]) for m in client.seen if m["type"] == "opponent_guessed"]
    assert (0, 1) not in announced
