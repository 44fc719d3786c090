"""The micro-batcher on its own: requests that arrive together share one prediction, the limit refuses at once, and
a failing prediction reaches every waiting request."""
import asyncio

import numpy as np
import pytest

from gridlab.serving.batcher import Batcher, Overloaded


def _run(coroutine):
    return asyncio.run(coroutine)


def test_requests_arriving_together_share_one_batch():
    calls = []

    def predict(x):
        calls.append(len(x))
        return np.repeat(x.reshape(len(x), -1)[:, :1], 2, axis=1)

    async def main():
        b = Batcher(predict, max_batch=5, window_ms=60_000, max_concurrent=10)   # closes when full, not by time
        await b.start()
        outs = await asyncio.gather(*(b.submit(np.full((1, 2), i, np.float32), 120) for i in range(5)))
        await b.stop()
        return b, outs

    b, outs = _run(main())
    assert calls == [5] and b.batches == 1 and b.examples == 5
    assert [o.tolist() for o in outs] == [[[i, i]] for i in range(5)]          # each request gets its own rows


def test_over_the_limit_is_refused_at_once():
    async def main():
        b = Batcher(lambda x: x, max_batch=64, window_ms=60_000, max_concurrent=1)
        await b.start()
        held = asyncio.create_task(b.submit(np.zeros((1, 1)), 120))
        while b.in_flight < 1:
            await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await b.submit(np.zeros((1, 1)), 120)
        held.cancel()
        await b.stop()

    _run(main())


def test_a_failing_prediction_reaches_every_request():
    def predict(x):
        raise ValueError("broken model")

    async def main():
        b = Batcher(predict, max_batch=2, window_ms=60_000)
        await b.start()
        results = await asyncio.gather(*(b.submit(np.zeros((1, 1)), 120) for _ in range(2)), return_exceptions=True)
        await b.stop()
        return results

    assert [str(r) for r in _run(main())] == ["broken model", "broken model"]
