import asyncio

import pytest
import uvloop

from cluster.actor import MetricsActor
from cluster.common import wire
from cluster.common.errors import KeyReused, LimitReached, StoreUnavailable
from cluster.node.batcher import Batcher


def req(labels, by, key=None):
    return wire.Request([wire.Increment(labels, by)], key)


class GatedStore:
    """A real actor behind an apply that waits for `release`, recording every call as
    (batch id, merged, requests)."""

    def __init__(self, tmp, **kwargs) -> None:
        self.store = MetricsActor(f"{tmp}/c.sqlite3", **kwargs)
        self.calls: list[tuple[wire.BatchId, dict, list]] = []
        self.release = asyncio.Event()

    async def apply(self, batch):
        self.calls.append((batch.id, batch.merged, batch.requests))
        await self.release.wait()
        return self.store.apply_now(batch)


async def tick() -> None:
    """One pass of the event loop: the tasks just created run up to their first await.
    Deterministic scheduling, not a wait for time to pass."""
    await asyncio.sleep(0)


async def until(predicate, timeout: float = 2.0) -> None:
    """Poll `predicate` on the loop until it holds; fail at `timeout`."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


def run(coro):
    return uvloop.run(coro)  # the nodes' event loop: its handles differ from asyncio's


def test_lone_request_is_sent_at_once(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply, max_in_flight=1)
        assert await batcher.add(req(["a", "b"], 2)) == {"a": 2, "b": 2}
        assert len(fake.calls) == 1

    run(scenario())


def test_waiting_requests_are_merged_and_each_sees_its_own_value(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1)
        first = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        rest = [asyncio.create_task(batcher.add(req(["a", "b"], n))) for n in (1, 2, 3)]
        await tick()
        fake.release.set()
        values = [await first] + [await t for t in rest]
        assert values == [{"a": 1}, {"a": 2, "b": 1}, {"a": 4, "b": 3}, {"a": 7, "b": 6}]
        assert [merged for _, merged, _ in fake.calls] == [{"a": 1}, {"a": 6, "b": 6}]
        first_id, second_id = fake.calls[0][0], fake.calls[1][0]
        assert first_id.node == second_id.node and second_id.seq == first_id.seq + 1

    run(scenario())


def test_second_call_waits_for_age_cap_while_one_is_in_flight(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=2, max_batch_age=0.05)
        first = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        second = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        assert len(fake.calls) == 1  # not yet: one call in flight, the batch is young
        await until(lambda: len(fake.calls) == 2)  # the age cap sends it, the first in flight
        fake.release.set()
        assert sorted([(await first)["a"], (await second)["a"]]) == [1, 2]

    run(scenario())


def test_batch_size_is_capped_in_labels(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1, max_batch_labels=4)
        tasks = [asyncio.create_task(batcher.add(req([f"x{i}", f"y{i}"], 1))) for i in range(5)]
        await tick()
        fake.release.set()
        await asyncio.gather(*tasks)
        assert [len(merged) for _, merged, _ in fake.calls] == [2, 4, 4]

    run(scenario())


def test_keyed_requests_go_as_items_and_repeat_gets_first_answer(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply)
        first = await batcher.add(req(["a"], 5, "k"))
        again = await batcher.add(req(["a"], 5, "k"))
        assert first == again == {"a": 5}
        with pytest.raises(KeyReused):
            await batcher.add(req(["a"], 6, "k"))
        assert fake.calls[0][1] == {} and fake.calls[0][2] == [req(["a"], 5, "k")]

    run(scenario())


def test_refused_merge_falls_back_so_only_the_offending_request_fails(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path, max_counters=3)
        batcher = Batcher(fake.apply, max_in_flight=1)
        blocker = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        ok = asyncio.create_task(batcher.add(req(["a", "b", "c"], 1)))
        refused = asyncio.create_task(batcher.add(req(["d"], 1)))
        await tick()
        fake.release.set()
        await blocker
        assert await ok == {"a": 2, "b": 1, "c": 1}
        with pytest.raises(LimitReached):
            await refused

    run(scenario())


def test_store_failure_reaches_every_waiter_and_batcher_recovers(tmp_path):
    async def scenario():
        store = MetricsActor(f"{tmp_path}/c.sqlite3")
        calls = 0

        async def apply(batch):
            nonlocal calls
            calls += 1
            if calls == 1:
                raise StoreUnavailable("down")
            return store.apply_now(batch)

        batcher = Batcher(apply)
        with pytest.raises(StoreUnavailable):
            await batcher.add(req(["a"], 1))
        assert await batcher.add(req(["a"], 1)) == {"a": 1}

    run(scenario())


def test_drain_waits_for_in_flight_and_pending_requests(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1)
        tasks = [asyncio.create_task(batcher.add(req(["a"], 1))) for _ in range(3)]
        await tick()
        drained = asyncio.create_task(batcher.drain())
        await tick()
        assert not drained.done()
        fake.release.set()
        await drained
        assert all(t.done() for t in tasks)
        assert sorted(t.result()["a"] for t in tasks) == [1, 2, 3]

    run(scenario())


def test_under_load_next_call_lingers_for_the_clients_just_answered(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply, max_in_flight=1, linger=0.05)
        await asyncio.gather(*(batcher.add(req(["a"], 1)) for _ in range(3)))  # busy now
        calls = len(fake.calls)
        late = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        assert len(fake.calls) == calls  # held back: the node was busy a moment ago
        assert (await late)["a"] == 4
        assert len(fake.calls) == calls + 1

    run(scenario())


def test_a_returned_call_shortens_the_age_cap_wait_to_the_linger(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=2, max_batch_age=30.0, linger=0.01)
        busy = [asyncio.create_task(batcher.add(req(["a"], 1))) for _ in range(3)]
        await tick()
        fake.release.set()
        await asyncio.gather(*busy)  # two calls: the second held two requests (busy)
        fake.release.clear()
        sent = len(fake.calls)
        first = asyncio.create_task(batcher.add(req(["a"], 1)))
        await until(lambda: len(fake.calls) == sent + 1)  # after the linger
        second = asyncio.create_task(batcher.add(req(["a"], 1)))  # waits on the 30 s age cap
        await tick()
        fake.release.set()
        await first
        # the first call returned: the second goes after the linger, not after 30 s
        assert (await asyncio.wait_for(second, 2))["a"] == 5

    run(scenario())


def test_a_request_whose_own_total_passes_the_limit_is_refused_before_any_batch(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        fake.release.set()
        batcher = Batcher(fake.apply)
        with pytest.raises(LimitReached, match="'z'"):
            await batcher.add(req(["z", "z", "z"], wire.MAX_VALUE))
        assert fake.calls == []
        assert await batcher.add(req(["z"], 1)) == {"z": 1}

    run(scenario())


def test_merged_totals_never_pass_the_limit_and_only_the_crossing_request_fails(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1)
        first = asyncio.create_task(batcher.add(req(["x"], 1)))
        await tick()
        half = wire.MAX_VALUE // 2 + 1  # two of them pass MAX_VALUE; three pass 2**64 - 1
        big = [asyncio.create_task(batcher.add(req(["a"], half))) for _ in range(3)]
        other = asyncio.create_task(batcher.add(req(["b"], 5)))
        keyed = asyncio.create_task(batcher.add(req(["c"], 1, key="k1")))
        await tick()
        fake.release.set()
        assert await first == {"x": 1}
        assert await other == {"b": 5}
        assert await keyed == {"c": 1}
        results = await asyncio.gather(*big, return_exceptions=True)
        assert [r for r in results if not isinstance(r, LimitReached)] == [{"a": half}], results
        assert all(max(merged.values(), default=0) <= wire.MAX_VALUE for _, merged, _ in fake.calls)
        assert fake.store._counts["a"] == half

    run(scenario())


def test_a_batch_that_cannot_be_encoded_fails_only_its_own_request(tmp_path):
    async def scenario():
        fake = GatedStore(tmp_path)
        fake.release.set()

        async def apply(batch):
            wire.encode(batch)  # what the link and the Ray path do first
            return await fake.apply(batch)

        batcher = Batcher(apply, max_in_flight=1)
        gate = asyncio.Event()
        original = fake.apply

        async def slow(batch):
            await gate.wait()
            return await original(batch)

        fake.apply = slow
        first = asyncio.create_task(batcher.add(req(["x"], 1)))
        await tick()
        # A keyed request goes alone, unmerged; an increment that msgpack cannot write stands
        # for any request that slipped past the checks (the API refuses negative ones).
        bad = wire.Request([wire.Increment(["y"], -(2**64))], "bad")
        others = [asyncio.create_task(batcher.add(req(["b"], 1))) for _ in range(2)]
        broken = asyncio.create_task(batcher.add(bad))
        await tick()
        fake.apply = original
        gate.set()
        assert await first == {"x": 1}
        assert [await t for t in others] == [{"b": 1}, {"b": 2}]
        with pytest.raises(OverflowError):
            await broken

    run(scenario())


def test_a_full_queue_refuses_at_once_and_a_stuck_store_fails_waiters_on_time(tmp_path):
    from cluster.common.errors import Overloaded

    async def scenario():
        fake = GatedStore(tmp_path)
        batcher = Batcher(fake.apply, max_in_flight=1, max_pending_labels=3, max_wait=0.2)
        first = asyncio.create_task(batcher.add(req(["a"], 1)))
        await tick()
        waiting = asyncio.create_task(batcher.add(req(["b", "c"], 1)))
        await tick()
        with pytest.raises(Overloaded, match="limit is 3"):
            await batcher.add(req(["d", "e"], 1))
        with pytest.raises(StoreUnavailable, match="nothing of it was applied"):
            await asyncio.wait_for(waiting, 5)
        fake.release.set()
        assert await first == {"a": 1}
        assert await batcher.add(req(["b"], 1)) == {"b": 1}  # b was never applied

    run(scenario())
