"""Micro-batching: requests that arrive together share one forward pass.

Each worker thread calls `submit(item)` and blocks on its future; one batcher thread takes
the items queued, up to `max_batch`, and calls `fn(items)` once. Used with Celery's thread
pool, so the concurrent tasks of one worker process batch together.

A batch waits for company only while requests are known to be on their way: a caller that
will submit soon says so with `Reservations.reserve()`, and a batch waits, at most `max_wait_s`
after its first item, while any reservation is open. A request that comes alone runs at once;
requests that arrive while a batch runs queue up and form the next batch without any wait.

A batcher holds its batch function (a machine player's model) and a thread. It stops when it
has been idle for `idle_s`, or when closed; `BatcherPool` keeps a bounded number of them and
builds a fresh one in place of a stopped one.
"""

import collections
import concurrent.futures
import contextlib
import threading
import time
import weakref
from concurrent.futures import Future

ERR_CLOSED = "this batcher has stopped (idle or closed); take a fresh one from its pool"
ERR_TIMEOUT = "{what}: no result within {timeout_s:g} s (its batch is stuck or the process overloaded)"


# Rounds per forward pass when GEOGAME_BATCH_MAX is unset, by device. On the CPU the backbone is
# compute-bound at one location's views, so a batch of n takes n times as long and batching only
# adds waiting and memory (bench/README.md, `machine_latency.py`); a GPU is idle between small
# passes, and batching is what fills it.
BATCH_MAX_BY_DEVICE = {"cpu": 1, "cuda": 16}


def default_batch_max(device):
    """How many rounds share a forward pass on `device` ("cpu", "cuda", "cuda:1", ...)."""
    return BATCH_MAX_BY_DEVICE.get(device.split(":")[0], 1)


class BatcherClosed(RuntimeError):
    pass


class BatchTimeout(TimeoutError):
    pass


def result(future, *, timeout_s, what="a batched request"):
    """The future's result, or BatchTimeout after `timeout_s`. A request still queued is
    cancelled, so no batch runs it for a caller that has gone."""
    done, _ = concurrent.futures.wait([future], timeout=timeout_s)
    if not done:
        future.cancel()
        raise BatchTimeout(ERR_TIMEOUT.format(what=what, timeout_s=timeout_s))
    return future.result()


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
    def __init__(self, fn, *, max_batch=16, max_wait_s=0.01, reservations=None, idle_s=None):
        """`idle_s`: the thread stops (and lets go of `fn`) after this long without a request;
        None: it runs as long as the process."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if idle_s is not None and idle_s <= 0:
            raise ValueError("idle_s must be positive (or None: never idle out)")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.idle_s = idle_s
        self.closed = False  # guarded by _changed; once set, submit refuses and the thread ends
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
            if self.closed:
                raise BatcherClosed(ERR_CLOSED)
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

    def close(self):
        """Take no more requests; the thread runs those queued, then stops."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def is_running(self):
        return self._thread.is_alive()

    def join(self, timeout_s):
        """Wait (at most `timeout_s`) for the thread to stop; returns whether it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _collect(self):
        """The next batch, or None once closed (or idle past idle_s) with nothing queued."""
        with self._changed:
            while True:
                idle_until = None if self.idle_s is None else time.monotonic() + self.idle_s
                while not self._queued:
                    if self.closed:
                        return None
                    if idle_until is None:
                        self._changed.wait()
                        continue
                    remaining = idle_until - time.monotonic()
                    if remaining <= 0:
                        self.closed = True  # in the same lock as submit's check: no request is lost
                        return None
                    self._changed.wait(remaining)
                deadline = time.monotonic() + self.max_wait_s
                while len(self._queued) < self.max_batch and self.reservations.open > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                taken = [self._queued.popleft() for _ in range(min(self.max_batch, len(self._queued)))]
                # A caller that timed out cancelled its future: no forward pass for it.
                batch = [(item, future) for item, future in taken if future.set_running_or_notify_cancel()]
                if batch:
                    self._sizes[len(batch)] += 1
                    return batch

    def _loop(self):
        while True:
            batch = self._collect()
            if batch is None:
                self.fn = None  # the model goes with the batcher, not with the process
                return
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
            for (_, future), result_ in zip(batch, results, strict=True):
                future.set_result(result_)


class BatcherPool:
    """At most `max_batchers` batchers, one per key, each made for one owner (a loaded player).

    A batcher is replaced when it has stopped (idle) or when the key's owner is another object
    (the registry loaded a new version, or evicted and reloaded it). Beyond `max_batchers`, the
    least recently used is closed. The pool refers to owners weakly: a stopped batcher no longer
    keeps its model in memory once the registry lets go of it.
    """

    def __init__(self, *, max_batchers):
        if max_batchers < 1:
            raise ValueError("max_batchers must be at least 1")
        self.max_batchers = max_batchers
        self._lock = threading.Lock()
        self._entries = collections.OrderedDict()  # key -> (batcher, weakref to its owner)

    def submit(self, key, item, *, owner, make, slot=None):
        """Submit `item` to the key's batcher, made by `make()` when there is none for `owner`
        that still runs. Returns the item's future."""
        while True:
            batcher = self._batcher(key, owner, make)
            try:
                return batcher.submit(item, slot=slot)
            except BatcherClosed:  # it idled out between the look-up and the submit
                continue

    def _batcher(self, key, owner, make):
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not entry[0].closed and entry[1]() is owner:
                self._entries.move_to_end(key)
                return entry[0]
            if entry is not None:
                entry[0].close()
            batcher = make()
            self._entries[key] = (batcher, weakref.ref(owner))
            self._entries.move_to_end(key)
            for stale_key in [k for k, (b, _) in self._entries.items() if b.closed and k != key]:
                del self._entries[stale_key]
            while len(self._entries) > self.max_batchers:
                _, (evicted, _) = self._entries.popitem(last=False)
                evicted.close()
            return batcher

    def batchers(self):
        """{key: batcher} of those kept now, least recently used first."""
        with self._lock:
            return {k: b for k, (b, _) in self._entries.items()}

    def close_all(self):
        with self._lock:
            for batcher, _ in self._entries.values():
                batcher.close()
            self._entries.clear()
