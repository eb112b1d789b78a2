import asyncio

import orjson
import pytest

from cluster.store import MAX_VALUE, CounterStore


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "counters.sqlite3")


def read(store, labels=None):
    if labels is None:
        return orjson.loads(asyncio.run(store.read_json()))
    return asyncio.run(store.read(labels))


def one(labels, increment, key=None):
    """An item: one request of one (labels, increment) pair."""
    return ([(labels, increment)], key)


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
    _, results = store.apply_now(("n", 2), {}, [([(["a"], 1), (["b"], 1)], None)])
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
    from cluster.store import totals

    assert totals([(["a", "b", "a"], 2)]) == {"a": 4, "b": 2}
    assert totals([(["a"], 1), (["a", "c"], 3), (["c"], 1)]) == {"a": 4, "c": 4}
    assert totals([(["a"], 0)]) == {"a": 0}
