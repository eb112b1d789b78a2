import asyncio
import time

import orjson
import pytest

from cluster.actor import MetricsActor
from cluster.common import wire
from cluster.common.wire import MAX_VALUE, Applied, Event, HostRow, IntegerSample, Sample


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "counters.sqlite3")


def read(store, labels=None):
    if labels is None:
        return orjson.loads(asyncio.run(store.read(wire.AllCounters())))
    return asyncio.run(store.read(wire.CounterValues(labels)))


def view(store, query):
    return asyncio.run(store.read(query))


def one(labels, increment, key=None, records=()):
    """One request of one increment."""
    return wire.Request([wire.Increment(labels, increment)], key, list(records))


def apply(store, batch_id, merged, requests=()):
    """Apply a batch: (merged outcome, request outcomes), each applied one as its values and
    each refused one as (reason, detail), for short assertions."""
    node, seq = batch_id
    done = store.apply_now(wire.Batch(wire.BatchId(node, seq), merged, list(requests)))
    return plain(done.merged), [plain(o) for o in done.requests]


def plain(outcome):
    return outcome.values if isinstance(outcome, Applied) else (outcome.reason, outcome.detail)


def test_items_then_merged_increments_return_new_values(db):
    store = MetricsActor(db)
    merged, results = apply(store, ("n", 1), {"a": 5}, [one(["a", "b"], 10)])
    assert results == [{"a": 10, "b": 10}]
    assert merged == {"a": 15}
    assert read(store) == {"a": 15, "b": 10}


def test_label_listed_twice_is_incremented_twice(db):
    _, results = apply(MetricsActor(db), ("n", 1), {}, [one(["a", "a"], 3)])
    assert results == [{"a": 6}]


def test_request_with_several_pairs_is_all_or_nothing(db):
    store = MetricsActor(db)
    apply(store, ("n", 1), {"b": MAX_VALUE}, [])
    two = wire.Request([wire.Increment(["a"], 1), wire.Increment(["b"], 1)])
    _, results = apply(store, ("n", 2), {}, [two])
    assert results[0][0] == "limit"
    assert read(store) == {"b": MAX_VALUE}


def test_repeated_batch_id_is_applied_once(db):
    store = MetricsActor(db)
    assert apply(store, ("n", 1), {"a": 1}, []) == ({"a": 1}, [])
    assert read(store) == {"a": 1}


def test_repeated_batch_id_is_recognised_after_restart(db):
    apply(MetricsActor(db), ("n", 1), {"a": 1}, [])
    again = MetricsActor(db)
    apply(again, ("n", 1), {"a": 1}, [])
    assert read(again) == {"a": 1}


def test_state_and_epoch_survive_restart(db):
    first = MetricsActor(db, snapshot_every=3)
    for seq in range(1, 8):
        apply(first, ("n", seq), {"a": seq}, [one([f"l{seq}"], seq)])
    state = read(first)
    second = MetricsActor(db)
    assert read(second) == state and state["a"] == sum(range(1, 8))
    assert second._epoch == 2


def test_idempotency_key_returns_first_answer_and_applies_once(db):
    store = MetricsActor(db)
    _, first = apply(store, ("n", 1), {}, [one(["a"], 5, "k1"), one(["a"], 5, "k1")])
    assert first == [{"a": 5}, {"a": 5}]
    apply(store, ("n", 2), {"a": 1}, [])
    assert apply(MetricsActor(db), ("m", 1), {}, [one(["a"], 5, "k1")])[1] == [{"a": 5}]
    assert read(store) == {"a": 6}


def test_idempotency_key_reused_for_other_request_is_refused(db):
    store = MetricsActor(db)
    apply(store, ("n", 1), {}, [one(["a"], 5, "k1")])
    _, results = apply(store, ("n", 2), {}, [one(["a"], 6, "k1")])
    assert results[0][0] == "key_reused"
    assert read(store) == {"a": 5}


def test_item_over_counter_limit_is_refused_alone(db):
    store = MetricsActor(db, max_counters=2)
    _, results = apply(store, ("n", 1), {}, [one(["a", "b"], 1), one(["c"], 1), one(["a"], 1)])
    assert results[0] == {"a": 1, "b": 1}
    assert results[1][0] == "limit" and "limit is 2" in results[1][1]
    assert results[2] == {"a": 2}
    assert read(store) == {"a": 2, "b": 1}


def test_merged_increments_over_a_limit_are_refused_together(db):
    store = MetricsActor(db, max_counters=2)
    merged, _ = apply(store, ("n", 1), {"a": 1, "b": 1, "c": 1}, [])
    assert merged[0] == "limit"
    assert read(store) == {}


def test_overflowing_increment_is_refused_and_changes_nothing(db):
    store = MetricsActor(db)
    apply(store, ("n", 1), {"a": MAX_VALUE}, [])
    _, results = apply(store, ("n", 2), {}, [one(["b", "a"], 1)])
    assert results[0][0] == "limit" and "'a'" in results[0][1]
    assert read(store) == {"a": MAX_VALUE}
    assert read(MetricsActor(db)) == {"a": MAX_VALUE}


def test_read_subset_returns_only_existing_labels(db):
    store = MetricsActor(db)
    apply(store, ("n", 1), {"w": 50}, [])
    assert read(store, ["w", "z"]) == {"w": 50}
    assert read(store, ["e", "f"]) == {}


def test_log_replayed_at_restart_is_folded_at_the_next_threshold(db):
    first = MetricsActor(db, snapshot_every=4)
    for seq in range(1, 4):  # three log rows, below the threshold
        apply(first, ("n", seq), {f"l{seq}": 1}, [])
    second = MetricsActor(db, snapshot_every=4)
    assert second._log.load().log_rows == 3
    apply(second, ("n", 4), {"l4": 1}, [])  # the fourth row triggers the fold
    recovered = second._log.load()
    assert recovered.log_rows == 0
    assert recovered.counts == {"l1": 1, "l2": 1, "l3": 1, "l4": 1}


def test_json_of_all_counters_follows_every_change(db):
    store = MetricsActor(db)
    assert read(store) == {}
    apply(store, ("n", 1), {"a": 1}, [])
    assert read(store) == {"a": 1}
    apply(store, ("n", 2), {}, [one(["b"], 2)])
    assert read(store) == {"a": 1, "b": 2}


def test_totals_add_every_listing_times_its_increment():
    def inc(*pairs):
        return wire.totals([wire.Increment(labels, by) for labels, by in pairs])

    assert inc((["a", "b", "a"], 2)) == {"a": 4, "b": 2}
    assert inc((["a"], 1), (["a", "c"], 3), (["c"], 1)) == {"a": 4, "c": 4}
    assert inc((["a"], 0)) == {"a": 0}


T = 1_700_000_000.0


def sample(name, ts, value):
    return wire.Request([], None, [Sample(name, ts, value)])


def test_records_survive_a_restart_from_the_log_and_from_a_snapshot(db):
    store = MetricsActor(db, snapshot_every=3, records_snapshot_seconds=0)
    event = Event("ann", "kite_call", 7, T)
    apply(store, ("n", 1), {}, [one(["kite_call"], 7, records=[event]), sample("temp", T, 20.0)])
    apply(store, ("n", 2), {}, [sample("temp", T + 1, 30.0)])
    after_log = MetricsActor(db, snapshot_every=3)  # two batches in the log: replayed
    apply(store, ("n", 3), {}, [sample("temp", T + 2, 40.0)])  # third: folded into state
    after_snapshot = MetricsActor(db, snapshot_every=3)
    for again, samples in ((after_log, 2), (after_snapshot, 3)):
        (bucket,) = view(again, wire.SeriesRange("temp", "day", 0, 2 * T))
        assert bucket.count == samples
        assert view(again, wire.FirstSeen("ann"))["first_seen"] == T
        assert read(again, ["kite_call"]) == {"kite_call": 7}
    assert apply(after_snapshot, ("n", 3), {}, [sample("temp", T, 1.0)])[1] == [{}]  # a repeat
    (bucket,) = view(after_snapshot, wire.SeriesRange("temp", "day", 0, 2 * T))
    assert bucket.count == 3


def test_refused_records_take_their_items_increments_with_them(db):
    store = MetricsActor(db, record_limits={"max_series": 1})
    _, results = apply(
        store,
        ("n", 1),
        {},
        [sample("a", T, 1.0), one(["x"], 1, records=[Sample("b", T, 2.0)]), sample("a", T, 3.0)],
    )
    assert results[0] == {} and results[2] == {}
    assert results[1][0] == "limit" and "limit is 1" in results[1][1]
    assert read(store) == {}
    assert view(store, wire.SeriesNames()) == ["a"]


def test_late_integer_is_refused_and_a_resend_is_not_counted_twice(db):
    store = MetricsActor(db)
    now = time.time()
    fresh = wire.Request([], None, [IntegerSample("gen-1", 1, 10, now)])
    _, results = apply(store, ("n", 1), {}, [fresh, fresh])
    assert results == [{}, {}]
    late_one = wire.Request([], None, [IntegerSample("gen-1", 2, 5, now - 60)])
    _, (late,) = apply(store, ("n", 2), {}, [late_one])
    assert late[0] == "late"
    windows = store._records.integers.state()["windows"]
    assert [(total, count) for _, total, count in windows] == [("10", 1)]


def test_event_retried_with_its_key_gets_the_first_answer_despite_a_new_stamp(db):
    store = MetricsActor(db)
    first = one(["m"], 2, key="k", records=[Event("ann", "m", 2, T)])
    retry = one(["m"], 2, key="k", records=[Event("ann", "m", 2, T + 5)])
    assert apply(store, ("n", 1), {}, [first])[1] == [{"m": 2}]
    assert apply(store, ("n", 2), {}, [retry])[1] == [{"m": 2}]
    assert read(store) == {"m": 2}


def test_retried_batch_gets_its_refusals_again_not_current_values(db):
    store = MetricsActor(db, record_limits={"max_series": 1})
    items = [sample("a", T, 1.0), sample("b", T, 2.0)]
    first = apply(store, ("n", 1), {}, items)
    assert first[1][1][0] == "limit"
    assert apply(store, ("n", 1), {}, items) == first  # the reply was lost: same answer


def test_host_rows_sent_twice_are_kept_once(db):
    store = MetricsActor(db)
    row = HostRow("web-1", 10.0, 20.0, 30.0, T)
    apply(store, ("n", 1), {}, [wire.Request([], None, [row])])
    newer = HostRow("web-1", 11.0, 20.0, 30.0, T + 1)
    apply(store, ("n", 2), {}, [wire.Request([], None, [row, newer])])
    rows = view(store, wire.LatestHosts(10))
    assert [r["cpu_usage"] for r in rows] == [11.0, 10.0]
