import asyncio

import pytest

from cluster.batcher import Batcher
from cluster.errors import LimitReached, StoreUnavailable
from cluster.store import CounterStore


class SlowStore:
    """A CounterStore behind an apply that waits until released, recording every batch."""

    def __init__(self, tmp) -> None:
        self.store = CounterStore(f"{tmp}/c.sqlite3", max_counters=3)
        self.batches: list[tuple[tuple[str, int], int]] = []
        self.release = asyncio.Event()

    async def apply(self, batch_id, items):
        self.batches.append((batch_id, len(items)))
        await self.release.wait()
        return self.store.apply_now(batch_id, items)


def test_lone_request_is_sent_at_once(tmp_path):
    async def scenario():
        fake = SlowStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply, max_in_flight=1)
        assert await batcher.add(["a", "b"], 2) == {"a": 2, "b": 2}
        assert len(fake.batches) == 1

    asyncio.run(scenario())


def test_requests_waiting_behind_a_call_go_out_as_one_batch(tmp_path):
    async def scenario():
        fake = SlowStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1)
        first = asyncio.create_task(batcher.add(["a"], 1))
        await asyncio.sleep(0)
        rest = [asyncio.create_task(batcher.add(["a"], 1)) for _ in range(5)]
        await asyncio.sleep(0)
        fake.release.set()
        values = [await first] + [await t for t in rest]
        # each request sees the value right after its own increment
        assert [v["a"] for v in values] == [1, 2, 3, 4, 5, 6]
        assert [size for _, size in fake.batches] == [1, 5]
        ids = [batch_id for batch_id, _ in fake.batches]
        assert ids[0][0] == ids[1][0] and ids[1][1] == ids[0][1] + 1

    asyncio.run(scenario())


def test_batch_size_is_capped_in_labels(tmp_path):
    async def scenario():
        fake = SlowStore(tmp_path)
        fake.store = CounterStore(f"{tmp_path}/d.sqlite3")
        batcher = Batcher(fake.apply, max_in_flight=1, max_batch_labels=4)
        tasks = [asyncio.create_task(batcher.add(["a", "b"], 1)) for _ in range(5)]
        await asyncio.sleep(0)
        fake.release.set()
        await asyncio.gather(*tasks)
        assert [size for _, size in fake.batches] == [1, 2, 2]

    asyncio.run(scenario())


def test_refused_item_fails_only_its_own_request(tmp_path):
    async def scenario():
        fake = SlowStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply)
        ok, refused = await asyncio.gather(
            batcher.add(["a", "b", "c"], 1), batcher.add(["d"], 1), return_exceptions=True
        )
        assert ok == {"a": 1, "b": 1, "c": 1}
        assert isinstance(refused, LimitReached)

    asyncio.run(scenario())


def test_store_failure_reaches_every_waiter_and_batcher_recovers(tmp_path):
    async def scenario():
        calls = 0

        async def apply(batch_id, items):
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailable("down")
            return CounterStore(f"{tmp_path}/c.sqlite3").apply_now(batch_id, items)

        batcher = Batcher(apply)
        with pytest.raises(StoreUnavailable):
            await batcher.add(["a"], 1)
        assert await batcher.add(["a"], 1) == {"a": 1}

    asyncio.run(scenario())


def test_drain_waits_for_in_flight_batches(tmp_path):
    async def scenario():
        fake = SlowStore(tmp_path)
        batcher = Batcher(fake.apply)
        task = asyncio.create_task(batcher.add(["a"], 1))
        await asyncio.sleep(0)
        drained = asyncio.create_task(batcher.drain())
        await asyncio.sleep(0)
        assert not drained.done()
        fake.release.set()
        await drained
        assert task.done() and task.result() == {"a": 1}

    asyncio.run(scenario())
