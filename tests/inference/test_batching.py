"""The micro-batcher with real threads: when a batch waits for company, and when it does not.

A wait of an hour stands for "waits": a test that finishes at all shows the batch did not
wait for it."""

import threading
import time

import pytest

from inference.batching import (
    BatcherClosed,
    BatcherPool,
    BatchTimeout,
    MicroBatcher,
    Reservations,
    default_batch_max,
    result,
)

HOUR = 3600.0
RESULT_TIMEOUT_S = 30


class Recorder:
    """A batch function that doubles its items and records each batch it was given."""

    def __init__(self):
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, items):
        with self.lock:
            self.batches.append(list(items))
        return [2 * item for item in items]


def test_a_request_that_comes_alone_runs_at_once():
    fn = Recorder()
    batcher = MicroBatcher(fn, max_batch=16, max_wait_s=HOUR)
    assert batcher.submit(21).result(timeout=RESULT_TIMEOUT_S) == 42
    assert fn.batches == [[21]] and batcher.batch_sizes() == {1: 1}


def test_a_batch_waits_for_a_reserved_request_and_runs_it_with_the_first():
    fn, reservations = Recorder(), Reservations()
    batcher = MicroBatcher(fn, max_batch=16, max_wait_s=HOUR, reservations=reservations)
    with reservations.reserve() as slot:
        first = batcher.submit(1)
        assert not first.done()  # a reservation is open: the batch waits (up to an hour)
        second = batcher.submit(2, slot=slot)
    assert (first.result(timeout=RESULT_TIMEOUT_S), second.result(timeout=RESULT_TIMEOUT_S)) == (2, 4)
    assert fn.batches == [[1, 2]]


def test_leaving_a_reservation_without_submitting_releases_the_waiting_batch():
    fn, reservations = Recorder(), Reservations()
    batcher = MicroBatcher(fn, max_batch=16, max_wait_s=HOUR, reservations=reservations)
    with pytest.raises(LookupError), reservations.reserve():
        first = batcher.submit(1)
        assert not first.done()
        raise LookupError("the round was already guessed")
    assert first.result(timeout=RESULT_TIMEOUT_S) == 2
    assert reservations.open == 0 and fn.batches == [[1]]


def test_the_wait_for_a_reservation_is_bounded_by_max_wait():
    fn, reservations = Recorder(), Reservations()
    batcher = MicroBatcher(fn, max_batch=16, max_wait_s=0.2, reservations=reservations)
    with reservations.reserve():
        started = time.monotonic()
        assert batcher.submit(1).result(timeout=RESULT_TIMEOUT_S) == 2
        assert time.monotonic() - started >= 0.2  # it did wait, for max_wait_s
    assert fn.batches == [[1]]


def test_requests_queued_while_a_batch_runs_form_the_next_batch_without_waiting():
    release, started = threading.Event(), threading.Event()
    batches = []

    def fn(items):
        batches.append(list(items))
        if len(batches) == 1:
            started.set()
            release.wait(RESULT_TIMEOUT_S)
        return items

    batcher = MicroBatcher(fn, max_batch=3, max_wait_s=HOUR)
    first = batcher.submit("a")
    assert started.wait(RESULT_TIMEOUT_S)
    queued = [batcher.submit(x) for x in "bcde"]
    release.set()
    assert [f.result(timeout=RESULT_TIMEOUT_S) for f in [first, *queued]] == list("abcde")
    assert batches == [["a"], ["b", "c", "d"], ["e"]]  # at most max_batch, in arrival order
    assert batcher.batch_sizes() == {1: 2, 3: 1}


def test_a_failing_batch_fails_each_of_its_requests_and_the_batcher_keeps_serving():
    def fn(items):
        if "bad" in items:
            raise ValueError("no forward for you")
        return items

    reservations = Reservations()
    batcher = MicroBatcher(fn, max_wait_s=HOUR, reservations=reservations)
    with reservations.reserve() as slot:
        good = batcher.submit("good")
        bad = batcher.submit("bad", slot=slot)
    for future in (good, bad):
        with pytest.raises(ValueError, match="no forward"):
            future.result(timeout=RESULT_TIMEOUT_S)
    assert batcher.submit("later").result(timeout=RESULT_TIMEOUT_S) == "later"


def test_a_reservation_takes_one_item():
    reservations = Reservations()
    batcher = MicroBatcher(lambda items: items, reservations=reservations)
    with reservations.reserve() as slot:
        batcher.submit(1, slot=slot)
        with pytest.raises(RuntimeError, match="one item"):
            batcher.submit(2, slot=slot)
    assert reservations.open == 0


def test_a_batch_function_returning_the_wrong_count_fails_its_requests():
    batcher = MicroBatcher(lambda items: [], max_wait_s=HOUR)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        batcher.submit(1).result(timeout=RESULT_TIMEOUT_S)


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(lambda items: items, max_batch=0)


# -- Bounded memory: batchers stop when idle, a pool keeps a bounded number, waits time out ------


class Owner:
    """Stands for a loaded player: what a pool's batcher is made for."""


def make_doubler(idle_s=None):
    return lambda: MicroBatcher(Recorder(), max_wait_s=HOUR, idle_s=idle_s)


def test_a_batcher_idle_past_its_limit_stops_its_thread_and_lets_go_of_its_function():
    batcher = MicroBatcher(Recorder(), max_wait_s=HOUR, idle_s=0.05)
    assert batcher.submit(1).result(timeout=RESULT_TIMEOUT_S) == 2
    assert batcher.join(RESULT_TIMEOUT_S), "the idle batcher's thread did not stop"
    assert batcher.closed and batcher.fn is None  # the model it served can be freed
    with pytest.raises(BatcherClosed):
        batcher.submit(2)


def test_a_closed_batcher_runs_what_was_queued_then_stops():
    release, started = threading.Event(), threading.Event()

    def fn(items):
        started.set()
        release.wait(RESULT_TIMEOUT_S)
        return items

    batcher = MicroBatcher(fn, max_batch=1, max_wait_s=HOUR)
    first = batcher.submit("a")
    assert started.wait(RESULT_TIMEOUT_S)
    second = batcher.submit("b")
    batcher.close()
    release.set()
    assert [first.result(timeout=RESULT_TIMEOUT_S), second.result(timeout=RESULT_TIMEOUT_S)] == ["a", "b"]
    assert batcher.join(RESULT_TIMEOUT_S)


def test_a_pool_builds_a_fresh_batcher_in_place_of_one_that_idled_out():
    pool, owner = BatcherPool(max_batchers=4), Owner()
    assert pool.submit("p", 1, owner=owner, make=make_doubler(idle_s=0.05)).result(RESULT_TIMEOUT_S) == 2
    (first,) = pool.batchers().values()
    assert first.join(RESULT_TIMEOUT_S)
    assert pool.submit("p", 2, owner=owner, make=make_doubler(idle_s=0.05)).result(RESULT_TIMEOUT_S) == 4
    (second,) = pool.batchers().values()
    assert second is not first and first.fn is None


def test_a_pool_keeps_at_most_max_batchers_and_stops_the_least_recently_used():
    pool, owners = BatcherPool(max_batchers=2), {k: Owner() for k in "abc"}
    for key in "abac":  # "b" is now the least recently used
        assert pool.submit(key, 1, owner=owners[key], make=make_doubler()).result(RESULT_TIMEOUT_S) == 2
        if key == "b":
            evicted = pool.batchers()["b"]
    assert list(pool.batchers()) == ["a", "c"]
    assert evicted.join(RESULT_TIMEOUT_S) and evicted.fn is None
    assert all(b.is_running() for b in pool.batchers().values())
    pool.close_all()


def test_a_pool_replaces_a_keys_batcher_when_the_player_was_loaded_again():
    pool = BatcherPool(max_batchers=2)
    pool.submit("p", 1, owner=Owner(), make=make_doubler()).result(RESULT_TIMEOUT_S)
    (old,) = pool.batchers().values()
    pool.submit("p", 1, owner=Owner(), make=make_doubler()).result(RESULT_TIMEOUT_S)
    (new,) = pool.batchers().values()
    assert new is not old and old.join(RESULT_TIMEOUT_S)
    pool.close_all()


def test_a_stuck_batch_raises_a_timeout_error_instead_of_hanging_and_its_queued_request_is_dropped():
    release, started = threading.Event(), threading.Event()
    batches = []

    def fn(items):
        batches.append(list(items))
        started.set()
        release.wait(RESULT_TIMEOUT_S)
        return items

    batcher = MicroBatcher(fn, max_batch=1, max_wait_s=HOUR)
    running = batcher.submit("stuck")
    assert started.wait(RESULT_TIMEOUT_S)
    queued = batcher.submit("behind it")
    with pytest.raises(BatchTimeout, match=r"round 7's prediction: no result within 0\.05 s"):
        result(queued, timeout_s=0.05, what="round 7's prediction")
    release.set()
    assert running.result(timeout=RESULT_TIMEOUT_S) == "stuck"
    assert batcher.submit("later").result(timeout=RESULT_TIMEOUT_S) == "later"
    assert batches == [["stuck"], ["later"]]  # the request whose caller gave up never ran


def test_rounds_share_a_forward_pass_on_a_gpu_and_not_on_the_cpu():
    assert default_batch_max("cpu") == 1
    assert default_batch_max("cuda") == default_batch_max("cuda:1") == 16
    assert default_batch_max("mps") == 1  # unmeasured devices: no batching
