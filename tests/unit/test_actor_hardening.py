"""The actor under faults and abuse: snapshots that fail after a commit, Idempotency-Keys
past their bounds, a wall clock that jumps."""

import asyncio
import sqlite3
import time

import orjson
import pytest

from cluster.actor import MetricsActor
from cluster.actor import actor as actor_module
from cluster.actor.log import LogError
from cluster.common import wire
from cluster.common.timeutil import day_of
from tests.conftest import wait_for


def batch(seq, labels=("a",), by=1, key=None, node="n"):
    request = wire.Request([wire.Increment(list(labels), by)], key)
    return wire.Batch(wire.BatchId(node, seq), {}, [request])


def outcome(done):
    (result,) = done.requests
    return result


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "counters.sqlite3")


def failing_snapshots(actor):
    calls = []

    def fail(values, state=None, deleted=None):
        calls.append((values, state, deleted))
        raise LogError("disk full (simulated)")

    actor._log.snapshot = fail
    return calls


def test_a_failed_snapshot_after_a_commit_does_not_fail_the_commit(db):
    actor = MetricsActor(db, snapshot_every=1)
    calls = failing_snapshots(actor)
    assert outcome(actor.apply_now(batch(1))) == wire.Applied({"a": 1})
    assert len(calls) == 1
    snapshots = actor.describe()["snapshots"]
    assert snapshots["failures"] == 1 and "disk full" in snapshots["last_error"]
    # Backing off: the next batches are committed without trying again on their path.
    assert outcome(actor.apply_now(batch(2))) == wire.Applied({"a": 2})
    assert len(calls) == 1
    # A retry of the committed batch is recognised, not counted twice.
    assert outcome(actor.apply_now(batch(1))) == wire.Applied({"a": 2})
    del actor._log.snapshot  # the disk has room again
    actor._folds._retry_at = 0.0  # the backoff has passed
    actor.maintain()
    snapshots = actor.describe()["snapshots"]
    assert snapshots["failures"] == 0 and snapshots["last_error"] is None
    assert snapshots["log_rows"] == 0 and snapshots["last_ok_at"] is not None
    actor._log.close()
    assert MetricsActor(db)._counts == {"a": 2}


def test_in_the_event_loop_a_snapshot_runs_after_the_batch_is_answered(db):
    async def scenario():
        actor = MetricsActor(db, snapshot_every=1)
        answer = wire.decode_answer(await actor.apply(wire.encode(batch(1))))
        assert outcome(answer) == wire.Applied({"a": 1})
        assert actor.describe()["snapshots"]["log_rows"] == 1  # not folded on the call's path
        await asyncio.sleep(0)
        assert actor.describe()["snapshots"]["log_rows"] == 0
        await actor.close()

    asyncio.run(scenario())


def test_a_failing_snapshot_at_start_does_not_stop_recovery(db, monkeypatch):
    actor = MetricsActor(db, snapshot_every=1000)
    for seq in range(1, 4):
        actor.apply_now(batch(seq))
    actor._log.close()

    def fail(*_, **__):
        raise LogError("disk full (simulated)")

    monkeypatch.setattr(actor_module.DurableLog, "snapshot", fail)
    again = MetricsActor(db, snapshot_every=2)
    assert again._counts == {"a": 3}
    assert again.describe()["snapshots"]["failures"] == 1


def test_idempotency_keys_are_bounded_in_number_and_expire(db):
    actor = MetricsActor(db, max_keys=2, idempotency_window=0.3)
    assert outcome(actor.apply_now(batch(1, key="k1"))) == wire.Applied({"a": 1})
    assert outcome(actor.apply_now(batch(2, key="k2"))) == wire.Applied({"a": 2})
    full = outcome(actor.apply_now(batch(3, key="k3")))
    assert isinstance(full, wire.Refused) and full.reason == "busy"
    assert "2 Idempotency-Keys; the limit is 2" in full.detail
    assert actor._counts == {"a": 2}  # refused: nothing changed
    # A repeat of a held key still gets its first answer; a request without a key is applied.
    assert outcome(actor.apply_now(batch(4, key="k1"))) == wire.Applied({"a": 1})
    assert outcome(actor.apply_now(batch(5))) == wire.Applied({"a": 3})

    def accepted():
        return isinstance(outcome(actor.apply_now(batch(next(seq), key="k3"))), wire.Applied)

    seq = iter(range(6, 10_000))
    wait_for(accepted, timeout=5, what="k3 accepted once the old keys expired")
    actor.maintain()
    db_keys = sqlite3.connect(db).execute("SELECT key, length(request) FROM idempotency")
    assert sorted(db_keys) == [("k3", 16)]  # expired keys deleted; a digest, not the request


def test_idempotency_answers_are_bounded_in_bytes(db):
    actor = MetricsActor(db, max_key_bytes=2048)
    small = outcome(actor.apply_now(batch(1, key="small")))
    assert isinstance(small, wire.Applied)
    big = outcome(actor.apply_now(batch(2, labels=[f"label-{i}" for i in range(100)], key="big")))
    assert isinstance(big, wire.Refused) and big.reason == "busy"
    assert "bytes of answers" in big.detail
    assert set(actor._counts) == {"a"}


def test_a_restart_loads_only_keys_within_their_window(db):
    actor = MetricsActor(db, idempotency_window=600)
    actor.apply_now(batch(1, key="old"))
    actor._log.close()
    db_file = sqlite3.connect(db)
    db_file.execute("UPDATE idempotency SET at = at - 1000 WHERE key = 'old'")
    db_file.commit()
    again = MetricsActor(db, idempotency_window=600)
    assert "old" not in again._keys
    # The expired key names a new request now: applied again.
    assert outcome(again.apply_now(batch(1, key="old", node="m"))) == wire.Applied({"a": 2})


def test_a_wall_clock_jump_forgets_no_batch_id(db, monkeypatch):
    actor = MetricsActor(db, snapshot_every=1, dedup_window=300)
    actor.apply_now(batch(1))
    real = time.time
    monkeypatch.setattr(actor_module.time, "time", lambda: real() + 10 * 86400)
    actor.apply_now(batch(2, labels=("b",)))  # a snapshot and pruning run after it
    actor.maintain()
    assert outcome(actor.apply_now(batch(1))) == wire.Applied({"a": 1})  # still a repeat
    assert actor._counts == {"a": 1, "b": 1}


def test_deleted_counters_stay_deleted_after_a_restart_whatever_the_log_held(db):
    actor = MetricsActor(db, snapshot_every=1000)
    actor.apply_now(batch(1, labels=("gone", "kept"), by=3))
    actor.apply_now(batch(2, labels=("gone",), by=1))  # in the log, not yet in a snapshot
    delete = wire.DeleteSeries([[("__name__", "=~", "go.*")]])
    assert asyncio.run(actor.delete_series(delete)) == {"counters": 1, "series": 0}
    assert asyncio.run(actor.delete_series(delete)) == {"counters": 0, "series": 0}
    actor._log.close()
    assert MetricsActor(db)._counts == {"kept": 3}


def test_delete_series_removes_metric_series_durably_and_their_limit_room(db):
    actor = MetricsActor(db, record_limits={"max_series": 2})
    samples = [wire.Sample("tmp_cpu", 1_700_000_000.0, 1.0), wire.Sample("keep", 1_700_000_000, 2)]
    request = wire.Request([], None, samples)
    assert outcome(actor.apply_now(wire.Batch(wire.BatchId("n", 1), {}, [request]))) == (
        wire.Applied({})
    )
    third = wire.Request([], None, [wire.Sample("other", 1_700_000_000.0, 3.0)])
    full = outcome(actor.apply_now(wire.Batch(wire.BatchId("n", 2), {}, [third])))
    assert isinstance(full, wire.Refused)
    delete = wire.DeleteSeries([[("__name__", "=", "tmp_cpu")]])
    assert asyncio.run(actor.delete_series(delete)) == {"counters": 0, "series": 1}
    again = outcome(actor.apply_now(wire.Batch(wire.BatchId("n", 3), {}, [third])))
    assert again == wire.Applied({})  # the deleted series' room is free again
    actor._log.close()
    assert MetricsActor(db)._records.series.names() == ["keep", "other"]


def test_a_long_hourly_read_lets_batches_run_between_its_steps(db):

    actor = MetricsActor(db)
    now = time.time()
    for i in range(30_000):  # several steps of events.STEP
        actor._records.events.add(f"user{i % 7000}", f"m{i % 3}", i % 5, now - 10)

    async def scenario():
        served = []

        async def batches_meanwhile():
            seq = 0
            while True:
                seq += 1
                actor.apply_now(batch(seq, labels=("during",)))
                served.append(seq)
                await asyncio.sleep(0)

        other = asyncio.create_task(batches_meanwhile())
        await asyncio.sleep(0)
        body = await actor.read(wire.HourlyTotals(per_user=True))
        during = len(served)
        other.cancel()
        return body, during

    body, during = asyncio.run(scenario())
    assert during > 5, "no batch was applied while the read ran"
    assert orjson.loads(body) == actor._records.events.hourly_per_user(now)
    assert len(orjson.loads(body)) == 21_000


def test_a_key_reused_after_it_expired_keeps_its_new_answer_in_the_log(db):
    actor = MetricsActor(db, idempotency_window=0.2)
    actor.apply_now(batch(1, key="again"))

    def reused():
        done = outcome(actor.apply_now(batch(next(seq), labels=("b",), key="again")))
        return isinstance(done, wire.Applied) and done.values == {"b": 1}

    seq = iter(range(2, 10_000))
    wait_for(reused, timeout=5, what="the expired key accepted for a new request")
    actor.maintain()  # flushes what was pruned: the old key's name, now held again
    rows = sqlite3.connect(db).execute("SELECT answer FROM idempotency WHERE key = 'again'")
    assert [bytes(a) for (a,) in rows] == [b'{"b":1}']
    assert actor.describe()["idempotency_keys"]["held"] == 1


def sample_batch(seq, ts, value=1.0, node="n", more=()):
    request = wire.Request([], None, [wire.Sample("temp", ts, value), *more])
    return wire.Batch(wire.BatchId(node, seq), {}, [request])


def every_kind(seq, ts):
    """Records of every buffer, new ones each time: a state the thread encodes while they
    arrive would show it if any buffer handed it a live container."""
    return [
        wire.Event(f"new-user-{seq}", f"metric-{seq % 3}", seq, ts),
        wire.HostRow(f"host-{seq % 4}", 1.0, 2.0, 3.0, ts),
        wire.IntegerSample(f"gen-{seq % 2}", seq, seq, ts),
        wire.Sample(f"series-{seq % 50}", ts, float(seq)),
    ]


def views(actor, now):
    def read(query):
        return asyncio.run(actor.read(query))

    return {
        "stats": actor._records.stats(),
        "series": series_rows(actor),
        "hourly": orjson.loads(read(wire.HourlyTotals(per_user=True))),
        "hosts": read(wire.LatestHosts(100)),
        "integers": read(wire.IntegerAverages(100)),
        "users": read(wire.DistinctUsers("metric-1", day_of(now))),
    }


def series_rows(actor):
    return [
        (b.start, b.count, b.total)
        for b in asyncio.run(actor.read(wire.SeriesRange("temp", "minute", 0, 2e9)))
    ]


def test_record_buffers_are_saved_by_a_thread_while_batches_commit(db):
    now = time.time()
    actor = MetricsActor(db, records_snapshot_seconds=0)
    for seq in range(1, 4):
        actor.apply_now(sample_batch(seq, now + seq))
    actor.maintain()  # the upkeep's timer; without a loop it saves at once
    assert actor.describe()["record_saves"]["last_ok_at"] is not None

    async def scenario():
        for i in range(60_000):  # a last hour big enough for the save to take many pieces
            actor._records.events.add(f"user{i % 900}", "m", 1, now - 10)
        actor._records_dirty = True
        actor._try_snapshot()
        assert actor.describe()["record_saves"]["saving"]
        seq = 3
        while not actor._saving.done():  # batches of every kind go on during the save
            seq += 1
            actor.apply_now(sample_batch(seq, now + seq / 1000, more=every_kind(seq, now)))
            await asyncio.sleep(0)
        await actor.close()
        return seq

    last = asyncio.run(scenario())
    assert last > 4, "no batch committed while the thread wrote the state"
    saves = actor.describe()["record_saves"]
    assert saves["failures"] == 0 and saves["last"]["bytes"] > 60_000
    # The state as of the save plus the records committed after it: each record once.
    again = MetricsActor(db)
    assert sum(count for _, count, _ in series_rows(again)) == last
    assert len(again._records.events._recent) == 60_000 + last - 3
    assert views(again, now) == views(actor, now)


def test_a_failed_save_of_the_record_buffers_keeps_their_records_in_the_log(db, monkeypatch):
    now = time.time()
    actor = MetricsActor(db, records_snapshot_seconds=0)

    def full(*_):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(actor_module.statefile, "write", full)
    assert outcome(actor.apply_now(sample_batch(1, now))) == wire.Applied({})
    actor.maintain()
    saves = actor.describe()["record_saves"]
    assert saves["failures"] == 1 and "No space left" in saves["last_error"]
    assert outcome(actor.apply_now(sample_batch(2, now + 1))) == wire.Applied({})
    actor.maintain()
    assert actor.describe()["record_saves"]["failures"] == 1  # backing off: not tried again
    monkeypatch.undo()
    actor._saves._retry_at = 0.0  # the backoff has passed
    actor.maintain()
    assert actor.describe()["record_saves"]["failures"] == 0
    actor._log.close()
    assert series_rows(MetricsActor(db)) == series_rows(actor)
    assert sum(count for _, count, _ in series_rows(actor)) == 2


@pytest.mark.parametrize(
    "where, error",
    [
        ("records_mark", LogError("disk I/O error (simulated)")),
        ("switch_state", RuntimeError("not a LogError (simulated)")),
    ],
)
def test_any_failure_of_a_save_is_shown_and_retried_and_the_upkeep_goes_on(
    db, monkeypatch, where, error
):
    now = time.time()
    actor = MetricsActor(db, records_snapshot_seconds=0)

    def fail(*_):
        raise error

    monkeypatch.setattr(actor._log, where, fail)

    async def scenario():
        actor.apply_now(sample_batch(1, now))
        actor.maintain()  # starts the save, or fails to: never raises
        if actor._saving is not None:
            await actor._saving  # a failed save does not raise out of its task
        saves = actor.describe()["record_saves"]
        assert saves["failures"] == 1 and "simulated" in saves["last_error"]
        assert outcome(actor.apply_now(sample_batch(2, now + 1))) == wire.Applied({})
        monkeypatch.undo()
        actor._saves._retry_at = 0.0
        actor.maintain()
        await actor._saving
        assert actor.describe()["record_saves"]["failures"] == 0
        await actor.close()

    asyncio.run(scenario())
    assert sum(count for _, count, _ in series_rows(MetricsActor(db))) == 2


def test_a_maintenance_pass_that_raises_does_not_end_the_upkeep(db, monkeypatch):
    actor = MetricsActor(db)
    passes = []

    def flaky():
        passes.append(1)
        if len(passes) == 1:
            raise RuntimeError("one bad pass (simulated)")

    monkeypatch.setattr(actor, "maintain", flaky)
    monkeypatch.setattr(actor_module, "_MAINTAIN_EVERY", 0.01)

    async def scenario():
        actor._keep_maintained()
        deadline = time.monotonic() + 5
        while len(passes) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not actor._maintainer.done()
        await actor.close()

    asyncio.run(scenario())
    assert len(passes) >= 3


def test_delete_series_during_a_save_waits_for_a_save_without_them(db):
    now = time.time()
    actor = MetricsActor(db, records_snapshot_seconds=0)
    actor.apply_now(sample_batch(1, now))
    for i in range(30_000):  # a save long enough to be in flight
        actor._records.events.add(f"user{i}", "m", 1, now - 10)

    async def scenario():
        actor._records_dirty = True
        actor._try_snapshot()
        assert actor.describe()["record_saves"]["saving"]
        delete = wire.DeleteSeries([[("__name__", "=", "temp")]])
        assert await actor.delete_series(delete) == {"counters": 0, "series": 1}
        await actor.close()

    asyncio.run(scenario())
    again = MetricsActor(db)
    assert again._records.series.names() == []
    assert len(again._records.events._recent) == 30_000


def test_a_failure_while_taking_the_state_is_shown_too(db, monkeypatch):
    actor = MetricsActor(db, records_snapshot_seconds=0)
    actor.apply_now(sample_batch(1, time.time()))

    def broken(_now):
        raise ValueError("a bug while pruning (simulated)")

    monkeypatch.setattr(actor._records, "prune", broken)
    actor.maintain()
    saves = actor.describe()["record_saves"]
    assert saves["failures"] == 1 and "simulated" in saves["last_error"]


def test_after_close_no_snapshot_or_save_starts(db, caplog):
    async def scenario():
        actor = MetricsActor(db, snapshot_every=1, records_snapshot_seconds=0)
        actor.apply_now(sample_batch(1, time.time()))  # queues a snapshot for the next turn
        await actor.close()
        await asyncio.sleep(0)  # the turn queued before close runs now, against a closed log
        return actor

    actor = asyncio.run(scenario())
    assert "Exception in callback" not in caplog.text
    assert actor.describe()["snapshots"]["failures"] == 0


async def _until(done, what, seconds=30.0):
    """Loop turns until `done()`, failing past the deadline."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0)


def _many(seq, count, by=1):
    return batch(seq, labels=[f"l{i:03d}" for i in range(count)], by=by)


def test_a_long_fold_goes_in_steps_with_batches_between(db, monkeypatch):
    monkeypatch.setattr(actor_module, "_FOLD_STEP", 10)
    events = []

    async def scenario():
        actor = MetricsActor(db, snapshot_every=2)
        real_step = actor._log.fold_step

        def step(values):
            events.append(("step", len(values)))
            real_step(values)

        actor._log.fold_step = step
        actor.apply_now(_many(1, 35))
        actor.apply_now(_many(2, 35))  # the second row: a fold is due, in steps (35 > 10)
        await asyncio.sleep(0)  # the scheduled snapshot starts the fold
        await asyncio.sleep(0)  # which writes its first step
        assert actor._folding is not None and events == [("step", 10)]
        actor._snapshot_every = 10**6  # no fold after this one: its leftover rows stay seen
        deadline = time.monotonic() + 30
        while actor._folding is not None:  # a batch a loop turn, until the fold has ended
            assert time.monotonic() < deadline, "the fold did not end"
            events.append(("batch", actor.apply_now(batch(len(events) + 10, ("late",)))))
            await asyncio.sleep(0)
        await actor.close()
        return actor

    actor = asyncio.run(scenario())
    kinds = [kind for kind, _ in events]
    assert [n for kind, n in events if kind == "step"] == [10, 10, 10, 5]
    assert kinds.index("batch") < len(kinds) - 1 - kinds[::-1].index("step")  # interleaved
    assert actor.describe()["snapshots"]["failures"] == 0
    late = kinds.count("batch")
    # The rows committed during the fold stay in the log, the others went.
    assert sqlite3.connect(db).execute("SELECT count(*) FROM log").fetchone() == (late,)
    again = MetricsActor(db)
    assert again._counts == {**{f"l{i:03d}": 2 for i in range(35)}, "late": late}


def test_a_fold_stopped_between_steps_loses_and_doubles_nothing(db, monkeypatch):
    monkeypatch.setattr(actor_module, "_FOLD_STEP", 10)

    async def scenario():
        actor = MetricsActor(db, snapshot_every=2)
        real_step, steps = actor._log.fold_step, []

        def step(values):
            if len(steps) == 2:
                raise LogError("disk full (simulated)")
            steps.append(values)
            real_step(values)

        actor._log.fold_step = step
        actor.apply_now(_many(1, 35, by=3))
        actor.apply_now(_many(2, 35, by=4))
        await _until(lambda: actor._folding is None and steps, "the fold to stop")
        assert actor.describe()["snapshots"]["failures"] == 1
        assert len(actor._dirty) == 35  # to fold again after the backoff
        actor._log.close()  # as if the process died here: two steps written, the log whole

    asyncio.run(scenario())
    assert MetricsActor(db)._counts == {f"l{i:03d}": 7 for i in range(35)}


def test_a_delete_during_a_fold_in_steps_takes_it_over(db, monkeypatch):
    monkeypatch.setattr(actor_module, "_FOLD_STEP", 10)

    async def scenario():
        actor = MetricsActor(db, snapshot_every=2)
        actor.apply_now(_many(1, 35))
        actor.apply_now(_many(2, 35))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # a step or two written
        assert actor._folding is not None
        await actor.delete_series(wire.DeleteSeries([[("__name__", "=", "l000")]]))
        assert actor._folding is None
        await actor.close()

    asyncio.run(scenario())
    assert sqlite3.connect(db).execute("SELECT count(*) FROM log").fetchone() == (0,)
    assert MetricsActor(db)._counts == {f"l{i:03d}": 2 for i in range(1, 35)}
