"""Dynamic micro-batching: concurrent requests (the service's, or OpenRLHF's ``reward_func`` threads) are
coalesced into one judge call, made by the one worker thread that owns the judge (llama.cpp is not thread-safe). Requests with the same key (the
same function: the same labeler or scorer settings) join a batch of up to ``max_batch`` items, waiting
at most ``max_wait_ms`` for company; interactive requests go before job chunks."""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

HIGH, LOW = 0, 1


@dataclass
class _Request:
    key: Hashable
    fn: Callable[[list[Any]], list[Any]]
    items: list[Any]
    future: Future = field(default_factory=Future)
    context: contextvars.Context = field(default_factory=contextvars.copy_context)  # the caller's (usage meter)


class Batcher:
    """``submit(key, fn, items)`` returns a Future of ``fn``'s results for ``items``, in order; ``fn``
    runs on the worker thread over the items of every request in the batch at once."""

    def __init__(self, max_batch: int = 32, max_wait_ms: float = 10.0):
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000.0
        self._queues: tuple[deque[_Request], deque[_Request]] = (deque(), deque())
        self._cv = threading.Condition()
        self._stop = False
        self.batches = 0
        self.batch_items: list[int] = []  # sizes of recent batches (bounded), for metrics and benchmarks
        self._worker = threading.Thread(target=self._run, name="rlaif-judge", daemon=True)
        self._worker.start()

    def submit(self, key: Hashable, fn: Callable[[list[Any]], list[Any]], items: list[Any],
               priority: int = HIGH) -> Future:
        req = _Request(key, fn, list(items))
        with self._cv:
            if self._stop:
                raise RuntimeError("the judge worker has stopped")
            self._queues[priority].append(req)
            self._cv.notify()
        return req.future

    def depth(self) -> int:
        """Items waiting (not yet in a batch)."""
        with self._cv:
            return sum(len(r.items) for q in self._queues for r in q)

    def close(self) -> None:
        """Finish the batch in progress and what is queued, then stop the worker."""
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._worker.join()

    def _take(self) -> list[_Request] | None:
        """The next batch: the oldest request of the highest priority, plus queued requests with its key
        (high priority first) up to ``max_batch`` items, waiting up to ``max_wait`` for more."""
        with self._cv:
            while not any(self._queues):
                if self._stop:
                    return None
                self._cv.wait()
            head = (self._queues[HIGH] or self._queues[LOW]).popleft()
            batch, n = [head], len(head.items)
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch:
                n += self._gather(head.key, batch, self.max_batch - n)
                left = deadline - time.monotonic()
                if n >= self.max_batch or left <= 0 or self._stop:
                    break
                self._cv.wait(left)
            return batch

    def _gather(self, key: Hashable, batch: list[_Request], room: int) -> int:
        added = 0
        for q in self._queues:
            for req in [r for r in q if r.key == key]:
                if len(req.items) > room - added:
                    return added
                q.remove(req)
                batch.append(req)
                added += len(req.items)
        return added

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            items = [x for r in batch for x in r.items]
            self.batches += 1
            self.batch_items = (self.batch_items + [len(items)])[-1000:]
            try:
                results = batch[0].context.run(batch[0].fn, items)  # usage counts to the first caller
            except Exception as e:  # every caller of the batch gets the error (the worker goes on)
                if isinstance(e, StopIteration):  # cannot cross into an asyncio future: it would hang
                    e = RuntimeError(f"StopIteration in the judge call: {e}")
                for r in batch:
                    r.future.set_exception(e)
                continue
            start = 0
            for r in batch:
                r.future.set_result(results[start:start + len(r.items)])
                start += len(r.items)
