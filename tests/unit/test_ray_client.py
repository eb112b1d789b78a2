import asyncio

import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError

from cluster.common.config import Settings
from cluster.common.errors import StoreUnavailable
from cluster.node.ray_client import RayStoreClient


class FakeMethod:
    def __init__(self, outcomes, calls):
        self.outcomes = outcomes
        self.calls = calls

    def remote(self, *args):
        self.calls.append(args)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"

        async def run():
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        return run()


class FakeHandle:
    def __init__(self, outcomes):
        self.calls = []
        self.apply = FakeMethod(outcomes, self.calls)
        self.info = FakeMethod([], [])


def client_with(handles, **overrides):
    settings = Settings(store_deadline=overrides.get("deadline", 5.0), call_timeout=1.0)
    client = RayStoreClient(settings)
    created = []

    def get_or_create():
        created.append(1)
        return handles.pop(0)

    client._get_or_create = get_or_create
    return client, created


def unavailable():
    return ActorUnavailableError("may or may not have been executed", None)


def test_unavailable_retries_same_call_on_same_handle():
    handle = FakeHandle([unavailable(), unavailable(), "done"])
    client, created = client_with([handle])
    assert asyncio.run(client._call("apply", ("n", 7), [])) == "done"
    assert handle.calls == [(("n", 7), [])] * 3
    assert len(created) == 1


def test_died_actor_is_resolved_again():
    dead = FakeHandle([ActorDiedError()])
    fresh = FakeHandle(["done"])
    client, created = client_with([dead, fresh])
    assert asyncio.run(client._call("apply", ("n", 1), [])) == "done"
    assert len(created) == 2 and fresh.calls == [(("n", 1), [])]


def test_lost_creation_race_value_error_is_retried():
    handle = FakeHandle(["done"])
    client, created = client_with([handle])
    attempts = []

    def racy():
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("The name counter-store is already taken")
        return handle

    client._get_or_create = racy
    assert asyncio.run(client._call("apply", ("n", 1), [])) == "done"
    assert len(attempts) == 2


def test_past_deadline_caller_gets_store_unavailable():
    handle = FakeHandle([unavailable()] * 100)
    client, _ = client_with([handle], deadline=0.3)
    with pytest.raises(StoreUnavailable, match="fully or not at all"):
        asyncio.run(client._call("apply", ("n", 1), []))


class SlowRead:
    """A read that takes `seconds` (longer than one batch attempt may), counting its calls."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.calls = []

    def remote(self, *args):
        self.calls.append(args)

        async def run():
            await asyncio.sleep(self.seconds)
            return {"answer": len(self.calls)}

        return run()


def test_a_slow_read_is_one_call_awaited_past_the_attempt_timeout():
    from cluster.common import wire

    handle = FakeHandle([])
    handle.read = SlowRead(1.5)  # call_timeout is 1.0
    client, _ = client_with([handle])

    async def scenario():
        same = [client.read(wire.HourlyTotals(per_user=True)) for _ in range(3)]
        other = client.read(wire.CounterValues(["a"]))
        return await asyncio.gather(*same, other)

    answers = asyncio.run(scenario())
    assert answers[:3] == [answers[0]] * 3
    assert len(handle.read.calls) == 2  # the three identical reads shared one call


def test_a_read_past_the_deadline_is_not_resubmitted():
    from cluster.common import wire

    handle = FakeHandle([])
    handle.read = SlowRead(5.0)
    client, _ = client_with([handle], deadline=0.4)
    with pytest.raises(StoreUnavailable):
        asyncio.run(client.read(wire.SeriesNames()))
    assert len(handle.read.calls) == 1
