"""Micro-batching with a hard concurrency limit: requests arriving together are predicted in one batch (after a
short wait window), so throughput grows with load; beyond ``max_concurrent`` requests in flight the next one is
refused at once (503) instead of queueing without bound."""
from __future__ import annotations

import asyncio
import time

import numpy as np


class Overloaded(Exception):
    """More requests are in flight than the limit allows."""


class Batcher:
    def __init__(self, predict, max_batch: int = 64, window_ms: float = 2.0, max_concurrent: int = 64,
                 on_batch=None):
        self.predict = predict                       # (N, *shape) -> (N, K) probabilities, called in a thread
        self.on_batch = on_batch                     # called with each batch's size (the server's metrics)
        self.max_batch, self.window = max_batch, window_ms / 1000.0
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self.queue: asyncio.Queue | None = None
        self.task = None
        self.batches = 0
        self.examples = 0

    async def start(self):
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    async def stop(self):
        if self.task:
            self.task.cancel()

    async def submit(self, x: np.ndarray, timeout: float) -> np.ndarray:
        """Probabilities for ``x`` (N, *shape). Raises ``Overloaded`` or ``asyncio.TimeoutError``."""
        if self.in_flight >= self.max_concurrent:
            raise Overloaded()
        self.in_flight += 1
        try:
            future = asyncio.get_running_loop().create_future()
            await self.queue.put((x, future))
            return await asyncio.wait_for(future, timeout)
        finally:
            self.in_flight -= 1

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            size = len(items[0][0])
            deadline = time.perf_counter() + self.window
            while size < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                items.append(item)
                size += len(item[0])
            live = [(x, f) for x, f in items if not f.done()]
            if not live:
                continue
            batch = np.concatenate([x for x, _ in live])
            try:
                proba = await loop.run_in_executor(None, self.predict, batch)
            except Exception as exc:  # hand the failure to every waiting request
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                continue
            self.batches += 1
            self.examples += len(batch)
            if self.on_batch:
                self.on_batch(len(batch))
            start = 0
            for x, f in live:
                if not f.done():
                    f.set_result(proba[start:start + len(x)])
                start += len(x)
