"""The micro-batcher with real threads: when a batch waits for company, and when it does not.

A wait of an hour stands for "waits": a test that finishes at all shows the batch did not
wait for it."""

import threading
import time

import pytest

from inference.batching import MicroBatcher, Reservations

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
