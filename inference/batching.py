"""Micro-batching: requests that arrive together share one forward pass.

Each worker thread calls `submit(item)` and blocks on its future; one batcher
thread collects up to `max_batch` items, waiting at most `max_wait_s` after the
first, and calls `fn(items)` once. Used with Celery's thread pool, so the
concurrent tasks of one worker process batch together.
"""

import queue
import threading
import time
from concurrent.futures import Future


class MicroBatcher:
    def __init__(self, fn, *, max_batch=16, max_wait_s=0.01):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.queue = queue.SimpleQueue()
        self.batch_sizes = []  # for benchmarks and tests
        self._thread = threading.Thread(target=self._loop, name="geogame-batcher", daemon=True)
        self._thread.start()

    def submit(self, item):
        future = Future()
        self.queue.put((item, future))
        return future

    def _collect(self):
        batch = [self.queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        try:
            while len(batch) < self.max_batch:
                batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            pass
        return batch

    def _loop(self):
        while True:
            batch = self._collect()
            self.batch_sizes.append(len(batch))
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
