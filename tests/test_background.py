"""In-process timers (geogame.common.background.call_later): one thread over a heap for every pending
timer, handing due calls to the background pool. Real threads; waits are bounded conditions."""

import threading

from geogame.common import background

POOL_THREADS = 4  # background's ThreadPoolExecutor


def test_a_thousand_pending_timers_share_one_thread_and_fire_in_due_order():
    n = 1000
    fired, lock, done = [], threading.Lock(), threading.Event()
    cancelled = set(range(0, n, 10))
    expected = n - len(cancelled)

    def record(i):
        with lock:
            fired.append(i)
            if len(fired) == expected:
                done.set()

    before, pending_before = threading.active_count(), background.pending_timers()  # other tests' timers
    # Scheduled in reverse order of their due times: timer i is due after timer i + 1.
    timers = [background.call_later(0.3 + (n - i) * 0.0005, record, i) for i in range(n)]
    for i in cancelled:
        timers[i].cancel()
    # The timer thread and at most the pool's threads, however many timers wait.
    assert threading.active_count() <= before + 1 + POOL_THREADS
    assert background.pending_timers() <= pending_before + expected

    assert done.wait(30), f"only {len(fired)} of {expected} timers fired"
    background.wait_local()
    assert sorted(fired) == sorted(set(range(n)) - cancelled)
    by_due = sorted((t for i, t in enumerate(timers) if i not in cancelled), key=lambda t: t.due)
    dispatched = [t.dispatched_at for t in by_due]
    assert dispatched == sorted(dispatched), "timers were handed to the pool out of due order"
    assert all(t.dispatched_at >= t.due for t in by_due), "a timer fired early"
    assert all(timers[i].dispatched_at is None for i in cancelled)
    assert background.pending_timers() <= pending_before
    assert threading.active_count() <= before + 1 + POOL_THREADS


def test_an_earlier_timer_scheduled_later_wakes_the_thread():
    order, done = [], threading.Event()
    late = background.call_later(60, order.append, "late")
    background.call_later(0, lambda: (order.append("early"), done.set()))
    assert done.wait(10), "a timer due now waited behind one due in a minute"
    assert order == ["early"]
    late.cancel()
