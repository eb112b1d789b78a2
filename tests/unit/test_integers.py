import orjson
import pytest

from cluster.actor import statefile
from cluster.actor.integers import IntegerWindows
from cluster.common.errors import InvalidInput
from cluster.common.timeutil import rfc3339

T0 = 1_700_000_000  # a multiple of 5: window starts fall on it


def test_averages_row_shape_and_exact_average():
    win = IntegerWindows()
    win.add("g", 1, 1, T0 + 0.5)
    win.add("g", 2, 2, T0 + 4.9)
    assert win.averages(now=T0 + 6) == [{"id": 1, "integer": 1.5, "created_at": rfc3339(T0 + 5)}]


def test_values_beyond_one_byte_are_kept_whole():
    win = IntegerWindows()
    win.add(None, None, 1000, T0)
    win.add(None, None, -3, T0 + 1)
    assert win.last(now=T0 + 6)["integer"] == 498.5


def test_window_by_event_time_not_arrival():
    win = IntegerWindows()
    win.add("g", 1, 10, T0 + 7)  # arrives first, in the second window
    win.add("g", 2, 20, T0 + 2)  # arrives later with an older ts: the first window
    assert win.averages(now=T0 + 11) == [
        {"id": 2, "integer": 10.0, "created_at": rfc3339(T0 + 10)},
        {"id": 1, "integer": 20.0, "created_at": rfc3339(T0 + 5)},
    ]


def test_open_windows_are_not_read_until_grace_has_passed():
    win = IntegerWindows(grace=1.0)
    win.add("g", 1, 4, T0 + 1)
    assert win.averages(now=T0 + 5.99) == []
    assert win.last(now=T0 + 5.99) is None
    assert [r["integer"] for r in win.averages(now=T0 + 6)] == [4.0]


def test_refuse_late_sample_names_window_and_lateness():
    win = IntegerWindows(grace=1.0)
    assert win.refuse("g", 1, T0 + 1, now=T0 + 5.5) is None
    reason = win.refuse("g", 1, T0 + 1, now=T0 + 8.5)
    assert reason is not None
    assert f"[{rfc3339(T0)}, {rfc3339(T0 + 5)})" in reason and "2.500 s" in reason
    assert win.refuse("g", 2, T0 + 1, now=T0 + 6) is not None  # closed exactly at the edge


def test_refuse_changes_nothing():
    win = IntegerWindows()
    win.refuse("g", 1, T0, now=T0 + 1)
    assert win.state() == IntegerWindows().state()


def test_duplicate_is_accepted_and_ignored():
    win = IntegerWindows()
    assert win.add("g", 1, 10, T0) is True
    assert win.refuse("g", 1, T0, now=T0 + 1) is None
    assert win.add("g", 1, 10, T0) is False
    assert win.add("h", 1, 30, T0) is True  # same seq, other generator
    assert win.last(now=T0 + 6)["integer"] == 20.0


def test_duplicate_after_window_closed_is_still_suppressed():
    win = IntegerWindows()
    win.add("g", 7, 10, T0)
    assert win.refuse("g", 7, T0, now=T0 + 100) is None
    assert win.add("g", 7, 99, T0) is False
    assert win.last(now=T0 + 100)["integer"] == 10.0


def test_no_generator_means_no_duplicate_suppression():
    win = IntegerWindows()
    assert win.add(None, 1, 2, T0) is True
    assert win.add(None, 1, 4, T0) is True
    assert win.last(now=T0 + 6)["integer"] == 3.0


def test_limit_caps_rows_newest_first():
    win = IntegerWindows()
    for i in range(5):
        win.add("g", i, i, T0 + 5 * i)
    rows = win.averages(now=T0 + 100, limit=2)
    assert [(r["id"], r["integer"]) for r in rows] == [(5, 4.0), (4, 3.0)]
    assert len(win.averages(now=T0 + 100)) == 5
    assert win.averages(now=T0 + 100, limit=0) == []
    with pytest.raises(InvalidInput):
        win.averages(now=T0 + 100, limit=-1)


def test_last_is_none_when_empty():
    assert IntegerWindows().last(now=T0) is None


def test_ids_survive_prune_and_are_not_reused():
    win = IntegerWindows(keep=2)
    for i in range(4):
        win.add("g", i, i, T0 + 5 * i)
    before = {r["created_at"]: r["id"] for r in win.averages(now=T0 + 100)}
    win.prune(now=T0 + 100)
    after = win.averages(now=T0 + 100)
    assert [(r["id"], r["integer"]) for r in after] == [(4, 3.0), (3, 2.0)]
    assert all(before[r["created_at"]] == r["id"] for r in after)
    win.add("g", 9, 9, T0 + 100)
    assert win.last(now=T0 + 200)["id"] == 5


def test_prune_keeps_open_windows():
    win = IntegerWindows(keep=1)
    win.add("g", 1, 1, T0)
    win.add("g", 2, 2, T0 + 5)
    win.prune(now=T0 + 6)  # only the first is closed; the second stays though past `keep`
    win.add("g", 3, 4, T0 + 9)
    assert win.averages(now=T0 + 11) == [{"id": 2, "integer": 3.0, "created_at": rfc3339(T0 + 10)}]


def test_prune_forgets_duplicates_of_dropped_windows_and_refuses_them_as_late():
    win = IntegerWindows(keep=1)
    win.add("g", 1, 1, T0)
    win.add("g", 2, 2, T0 + 5)
    win.prune(now=T0 + 100)
    assert win.refuse("g", 1, T0, now=T0 + 100) is not None
    assert win.refuse("g", 2, T0 + 5, now=T0 + 100) is None  # its window is still held
    assert win.add("g", 1, 1, T0) is False  # its window is gone: recreating it would shift ids
    assert [r["id"] for r in win.averages(now=T0 + 100)] == [2]


def test_state_round_trip_through_json_keeps_ids_rows_and_duplicates():
    win = IntegerWindows(keep=2)
    for i in range(4):
        win.add("g", i, 2**62, T0 + 5 * i)
        win.add("h", i, 2**62 + 1, T0 + 5 * i)
    win.add("g", 9, 1, T0 + 21)  # an open window
    win.prune(now=T0 + 25)
    copy = IntegerWindows(keep=2)
    copy.load(orjson.loads(statefile.encode(win.state())))
    for now in [T0 + 25, T0 + 30]:
        assert copy.averages(now, limit=100) == win.averages(now, limit=100)
    assert copy.last(T0 + 30)["id"] == 5
    assert copy.last(T0 + 30)["integer"] == 1.0
    assert copy.averages(T0 + 25)[0]["integer"] == 2**62 + 0.5
    assert copy.add("g", 3, 5, T0 + 15) is False
    assert copy.add("g", 0, 5, T0) is False
    assert copy.state() == win.state()


def test_duplicate_records_are_bounded_oldest_closed_windows_first():
    win = IntegerWindows(keep=100, max_seen=10)
    for i in range(12):  # 4 samples in each of windows 0, 1, 2
        win.add("g", i, 1, T0 + 5 * (i // 4))
    win.add("g", 99, 1, T0 + 20)  # an open window at T0 + 21
    win.prune(now=T0 + 21)
    # 13 records past 10: down to 9, so the oldest window (closed) forgets its 4.
    assert win.stats()["duplicate_records"] == 9
    assert win.refuse("g", 0, T0, now=T0 + 21) is not None  # late now, not a resend
    assert win.refuse("g", 4, T0 + 5, now=T0 + 21) is None  # still known as a resend
    assert win.add("g", 99, 1, T0 + 20) is False
    assert [r["integer"] for r in win.averages(now=T0 + 100)] == [1.0, 1.0, 1.0, 1.0]


def test_duplicate_records_of_open_windows_are_never_forgotten():
    win = IntegerWindows(max_seen=2)
    for i in range(5):
        win.add("g", i, 1, T0)
    win.prune(now=T0 + 1)  # the window is open
    assert win.stats()["duplicate_records"] == 5
    assert all(win.add("g", i, 1, T0) is False for i in range(5))


def test_stats_count_what_is_held():
    win = IntegerWindows(keep=10)
    win.add("g", 1, 1, T0)
    win.add(None, None, 1, T0 + 5)
    assert win.stats() == {
        "windows": 2,
        "windows_kept": 10,
        "windows_dropped": 0,
        "duplicate_records": 1,
        "max_duplicate_records": 1_000_000,
    }
