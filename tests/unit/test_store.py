import asyncio
import time

import orjson
import pytest

from cluster.staging import MAX_VALUE
from cluster.store import CounterStore


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "counters.sqlite3")


def read(store, labels=None):
    if labels is None:
        return orjson.loads(asyncio.run(store.read_json()))
    return asyncio.run(store.read(labels))


def one(labels, increment, key=None, records=()):
    """An item: one request of one (labels, increment) pair."""
    return ([(labels, increment)], key, list(records))


def test_items_then_merged_increments_return_new_values(db):
    store = CounterStore(db)
    merged, results = store.apply_now(("n", 1), {"a": 5}, [one(["a", "b"], 10)])
    assert results == [{"a": 10, "b": 10}]
    assert merged == {"a": 15}
    assert read(store) == {"a": 15, "b": 10}


def test_label_listed_twice_is_incremented_twice(db):
    _, results = CounterStore(db).apply_now(("n", 1), {}, [one(["a", "a"], 3)])
    assert results == [{"a": 6}]


def test_request_with_several_pairs_is_all_or_nothing(db):
    store = CounterStore(db)
    store.apply_now(("n", 1), {"b": MAX_VALUE}, [])
    _, results = store.apply_now(("n", 2), {}, [([(["a"], 1), (["b"], 1)], None, [])])
    assert results[0][0] == "limit"
    assert read(store) == {"b": MAX_VALUE}


def test_repeated_batch_id_is_applied_once(db):
    store = CounterStore(db)
    assert store.apply_now(("n", 1), {"a": 1}, []) == ({"a": 1}, [])
    assert store.apply_now(["n", 1], {"a": 1}, []) == ({"a": 1}, [])  # Ray may make it a list
    assert read(store) == {"a": 1}


def test_repeated_batch_id_is_recognised_after_restart(db):
    CounterStore(db).apply_now(("n", 1), {"a": 1}, [])
    again = CounterStore(db)
    again.apply_now(("n", 1), {"a": 1}, [])
    assert read(again) == {"a": 1}


def test_state_and_epoch_survive_restart(db):
    first = CounterStore(db, snapshot_every=3)
    for seq in range(1, 8):
        first.apply_now(("n", seq), {"a": seq}, [one([f"l{seq}"], seq)])
    state = read(first)
    second = CounterStore(db)
    assert read(second) == state and state["a"] == sum(range(1, 8))
    assert second._epoch == 2


def test_idempotency_key_returns_first_answer_and_applies_once(db):
    store = CounterStore(db)
    _, first = store.apply_now(("n", 1), {}, [one(["a"], 5, "k1"), one(["a"], 5, "k1")])
    assert first == [{"a": 5}, {"a": 5}]
    store.apply_now(("n", 2), {"a": 1}, [])
    assert CounterStore(db).apply_now(("m", 1), {}, [one(["a"], 5, "k1")])[1] == [{"a": 5}]
    assert read(store) == {"a": 6}


def test_idempotency_key_reused_for_other_request_is_refused(db):
    store = CounterStore(db)
    store.apply_now(("n", 1), {}, [one(["a"], 5, "k1")])
    _, results = store.apply_now(("n", 2), {}, [one(["a"], 6, "k1")])
    assert results[0][0] == "key_reused"
    assert read(store) == {"a": 5}


def test_item_over_counter_limit_is_refused_alone(db):
    store = CounterStore(db, max_counters=2)
    _, results = store.apply_now(("n", 1), {}, [one(["a", "b"], 1), one(["c"], 1), one(["a"], 1)])
    assert results[0] == {"a": 1, "b": 1}
    assert results[1][0] == "limit" and "limit is 2" in results[1][1]
    assert results[2] == {"a": 2}
    assert read(store) == {"a": 2, "b": 1}


def test_merged_increments_over_a_limit_are_refused_together(db):
    store = CounterStore(db, max_counters=2)
    merged, _ = store.apply_now(("n", 1), {"a": 1, "b": 1, "c": 1}, [])
    assert merged[0] == "limit"
    assert read(store) == {}


def test_overflowing_increment_is_refused_and_changes_nothing(db):
    store = CounterStore(db)
    store.apply_now(("n", 1), {"a": MAX_VALUE}, [])
    _, results = store.apply_now(("n", 2), {}, [one(["b", "a"], 1)])
    assert results[0][0] == "limit" and "'a'" in results[0][1]
    assert read(store) == {"a": MAX_VALUE}
    assert read(CounterStore(db)) == {"a": MAX_VALUE}


def test_read_subset_returns_only_existing_labels(db):
    store = CounterStore(db)
    store.apply_now(("n", 1), {"w": 50}, [])
    assert read(store, ["w", "z"]) == {"w": 50}
    assert read(store, ["e", "f"]) == {}


def test_log_replayed_at_restart_is_folded_at_the_next_threshold(db):
    first = CounterStore(db, snapshot_every=4)
    for seq in range(1, 4):  # three log rows, below the threshold
        first.apply_now(("n", seq), {f"l{seq}": 1}, [])
    second = CounterStore(db, snapshot_every=4)
    assert second._storage.load().log_rows == 3
    second.apply_now(("n", 4), {"l4": 1}, [])  # the fourth row triggers the fold
    recovered = second._storage.load()
    assert recovered.log_rows == 0
    assert recovered.counts == {"l1": 1, "l2": 1, "l3": 1, "l4": 1}


def test_json_of_all_counters_follows_every_change(db):
    store = CounterStore(db)
    assert read(store) == {}
    store.apply_now(("n", 1), {"a": 1}, [])
    assert read(store) == {"a": 1}
    store.apply_now(("n", 2), {}, [one(["b"], 2)])
    assert read(store) == {"a": 1, "b": 2}


def test_totals_add_every_listing_times_its_increment():
    from cluster.staging import totals

    assert totals([(["a", "b", "a"], 2)]) == {"a": 4, "b": 2}
    assert totals([(["a"], 1), (["a", "c"], 3), (["c"], 1)]) == {"a": 4, "c": 4}
    assert totals([(["a"], 0)]) == {"a": 0}


T = 1_700_000_000.0


def sample(name, ts, value):
    return ([], None, [["s", name, ts, value]])


def test_records_survive_a_restart_from_the_log_and_from_a_snapshot(db):
    store = CounterStore(db, snapshot_every=3, records_snapshot_seconds=0)
    event = ["e", "ann", "kite_call", 7, T]
    store.apply_now(("n", 1), {}, [one(["kite_call"], 7, records=[event]), sample("temp", T, 20.0)])
    store.apply_now(("n", 2), {}, [sample("temp", T + 1, 30.0)])
    after_log = CounterStore(db, snapshot_every=3)  # two batches in the log: replayed
    store.apply_now(("n", 3), {}, [sample("temp", T + 2, 40.0)])  # third: folded into state
    after_snapshot = CounterStore(db, snapshot_every=3)
    for again, samples in ((after_log, 2), (after_snapshot, 3)):
        ((_, count, *_),) = asyncio.run(again.view("series_query", "temp", "day", 0, 2 * T))
        assert count == samples
        assert asyncio.run(again.view("first_seen", "ann"))["first_seen"] == T
        assert read(again, ["kite_call"]) == {"kite_call": 7}
    assert after_snapshot.apply_now(("n", 3), {}, [sample("temp", T, 1.0)])[1] == [{}]  # a repeat
    ((_, count, *_),) = asyncio.run(after_snapshot.view("series_query", "temp", "day", 0, 2 * T))
    assert count == 3


def test_refused_records_take_their_items_increments_with_them(db):
    store = CounterStore(db, record_limits={"max_series": 1})
    _, results = store.apply_now(
        ("n", 1),
        {},
        [sample("a", T, 1.0), one(["x"], 1, records=[["s", "b", T, 2.0]]), sample("a", T, 3.0)],
    )
    assert results[0] == {} and results[2] == {}
    assert results[1][0] == "limit" and "limit is 1" in results[1][1]
    assert read(store) == {}
    assert asyncio.run(store.view("series_names")) == ["a"]


def test_late_integer_is_refused_and_a_resend_is_not_counted_twice(db):
    store = CounterStore(db)
    now = time.time()
    fresh = ["i", "gen-1", 1, 10, now]
    _, results = store.apply_now(("n", 1), {}, [([], None, [fresh]), ([], None, [fresh])])
    assert results == [{}, {}]
    _, (late,) = store.apply_now(("n", 2), {}, [([], None, [["i", "gen-1", 2, 5, now - 60]])])
    assert late[0] == "late"
    windows = store._records.integers.state()["windows"]
    assert [(total, count) for _, total, count in windows] == [("10", 1)]


def test_event_retried_with_its_key_gets_the_first_answer_despite_a_new_stamp(db):
    store = CounterStore(db)
    first = one(["m"], 2, key="k", records=[["e", "ann", "m", 2, T]])
    retry = one(["m"], 2, key="k", records=[["e", "ann", "m", 2, T + 5]])
    assert store.apply_now(("n", 1), {}, [first])[1] == [{"m": 2}]
    assert store.apply_now(("n", 2), {}, [retry])[1] == [{"m": 2}]
    assert read(store) == {"m": 2}


def test_retried_batch_gets_its_refusals_again_not_current_values(db):
    store = CounterStore(db, record_limits={"max_series": 1})
    items = [sample("a", T, 1.0), sample("b", T, 2.0)]
    first = store.apply_now(("n", 1), {}, items)
    assert first[1][1][0] == "limit"
    assert store.apply_now(("n", 1), {}, items) == first  # the reply was lost: same answer


def test_host_rows_sent_twice_are_kept_once(db):
    store = CounterStore(db)
    row = ["h", "web-1", 10.0, 20.0, 30.0, T]
    store.apply_now(("n", 1), {}, [([], None, [row])])
    store.apply_now(("n", 2), {}, [([], None, [row, ["h", "web-1", 11.0, 20.0, 30.0, T + 1]])])
    rows = asyncio.run(store.view("hosts_latest", 10))
    assert [r["cpu_usage"] for r in rows] == [11.0, 10.0]
