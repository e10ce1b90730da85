"""Micro-batching: requests that arrive together share one forward pass.

Each worker thread calls `submit(item)` and blocks on its future; one batcher thread takes
the items queued, up to `max_batch`, and calls `fn(items)` once. Used with Celery's thread
pool, so the concurrent tasks of one worker process batch together.

A batch waits for company only while requests are known to be on their way: a caller that
will submit soon says so with `Reservations.reserve()`, and a batch waits, at most `max_wait_s`
after its first item, while any reservation is open. A request that comes alone runs at once;
requests that arrive while a batch runs queue up and form the next batch without any wait.
"""

import collections
import contextlib
import threading
import time
from concurrent.futures import Future


class Reservations:
    """Requests on their way to the batchers that share this object (a process's machine
    players): reserved while the caller prepares (reads the round, loads the player), released
    by submitting or by leaving the block. A reservation bound for another batcher costs a
    batch at most its `max_wait_s`."""

    def __init__(self):
        self.changed = threading.Condition()  # also guards every sharing batcher's queue
        self.open = 0

    @contextlib.contextmanager
    def reserve(self):
        """`with reservations.reserve() as slot: ... batcher.submit(item, slot=slot)`."""
        slot = _Slot()
        with self.changed:
            self.open += 1
        try:
            yield slot
        finally:
            if not slot.used:
                with self.changed:
                    self.open -= 1
                    self.changed.notify_all()


class _Slot:
    used = False


class MicroBatcher:
    def __init__(self, fn, *, max_batch=16, max_wait_s=0.01, reservations=None):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.reservations = reservations or Reservations()
        self._changed = self.reservations.changed
        self._queued = collections.deque()  # (item, future)
        self._sizes = collections.Counter()  # batch size -> batches run
        self._thread = threading.Thread(target=self._loop, name="geogame-batcher", daemon=True)
        self._thread.start()

    def submit(self, item, *, slot=None):
        """Queue `item`; returns its future. `slot`: the caller's reservation, released in the
        same step, so a batch never waits for an item that is already queued."""
        future = Future()
        with self._changed:
            if slot is not None:
                if slot.used:
                    raise RuntimeError("a reservation takes one item")
                slot.used = True
                self.reservations.open -= 1
            self._queued.append((item, future))
            self._changed.notify_all()
        return future

    def batch_sizes(self):
        """{batch size: batches run} so far (benchmarks and tests)."""
        with self._changed:
            return dict(self._sizes)

    def _collect(self):
        with self._changed:
            while not self._queued:
                self._changed.wait()
            deadline = time.monotonic() + self.max_wait_s
            while len(self._queued) < self.max_batch and self.reservations.open > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            batch = [self._queued.popleft() for _ in range(min(self.max_batch, len(self._queued)))]
            self._sizes[len(batch)] += 1
            return batch

    def _loop(self):
        while True:
            batch = self._collect()
            try:
                results = self.fn([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"batch function returned {len(results)} results for {len(batch)} items"
                    )
            except BaseException as exc:  # hand the failure to every waiter, keep serving
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
