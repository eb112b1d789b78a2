import asyncio

from cluster.store import MAX_VALUE, CounterStore


def test_apply_returns_each_labels_new_value():
    store = CounterStore()
    assert store.apply_now(("n", 1), [(["a", "b"], 10), (["a"], 5)]) == [[10, 10], [15]]
    assert asyncio.run(store.read()) == {"a": 15, "b": 10}


def test_label_listed_twice_is_incremented_twice():
    store = CounterStore()
    assert store.apply_now(("n", 1), [(["a", "a"], 3)]) == [[6, 6]]


def test_repeated_batch_id_is_applied_once_and_answered_the_same():
    store = CounterStore()
    first = store.apply_now(("n", 1), [(["a"], 1)])
    again = store.apply_now(["n", 1], [(["a"], 1)])  # Ray may turn the tuple into a list
    assert again == first == [[1]]
    assert asyncio.run(store.read()) == {"a": 1}


def test_dedup_window_forgets_oldest_ids():
    store = CounterStore(dedup_window=2)
    for seq in (1, 2, 3):
        store.apply_now(("n", seq), [(["a"], 1)])
    store.apply_now(("n", 1), [(["a"], 1)])  # outside the window: applied again
    assert asyncio.run(store.read()) == {"a": 4}


def test_item_over_counter_limit_is_refused_alone():
    store = CounterStore(max_counters=2)
    results = store.apply_now(("n", 1), [(["a", "b"], 1), (["c"], 1), (["a"], 1)])
    assert results[0] == [1, 1]
    assert isinstance(results[1], str) and "limit is 2" in results[1]
    assert results[2] == [2]
    assert asyncio.run(store.read()) == {"a": 2, "b": 1}


def test_overflowing_increment_is_refused_and_changes_nothing():
    store = CounterStore()
    store.apply_now(("n", 1), [(["a"], MAX_VALUE)])
    results = store.apply_now(("n", 2), [(["b", "a"], 1)])
    assert isinstance(results[0], str) and "'a'" in results[0]
    assert asyncio.run(store.read()) == {"a": MAX_VALUE}


def test_read_subset_returns_only_existing_labels():
    store = CounterStore()
    store.apply_now(("n", 1), [(["w"], 50)])
    assert asyncio.run(store.read(["w", "z"])) == {"w": 50}
    assert asyncio.run(store.read(["e", "f"])) == {}
