"""Counter history: changes stored once a tick, read back as a scrape every interval would."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.actor import statefile
from cluster.actor.history import CounterHistory

S = 1000  # ms


def test_a_counter_reads_as_a_scrape_every_interval():
    history = CounterHistory(interval=10, retention=3600)
    history.note(["a"])
    assert history.tick(100.5, {"a": 1}) is True
    assert history.tick(105, {"a": 1}) is False  # the same tick: nothing again
    history.note(["a"])
    history.tick(130.2, {"a": 4})  # the ticks at 110 and 120 were missed: not invented
    history.tick(160, {"a": 4})
    assert history.points("a", 0, 200 * S) == [
        (100 * S, 1),
        (110 * S, 1),
        (120 * S, 1),
        (130 * S, 4),
        (140 * S, 4),
        (150 * S, 4),
        (160 * S, 4),  # unchanged since 130: still seen, up to the newest tick
    ]
    assert history.points("a", 125 * S, 140 * S) == [(130 * S, 4), (140 * S, 4)]
    assert history.stats()["changes"] == 2


def test_deleted_unknown_and_untracked_counters_have_no_points():
    history = CounterHistory(interval=10, max_counters=1)
    history.note(["a", "b", "gone"])
    history.tick(10, {"a": 1, "b": 2})  # "gone" was deleted before the tick
    tracked = [label for label in ("a", "b") if history.points(label, 0, 20 * S)]
    assert len(tracked) == 1 and history.stats()["untracked"] == 1
    assert history.points("gone", 0, 20 * S) == []
    history.delete(tracked)  # room again
    other = ({"a", "b"} - set(tracked)).pop()
    history.note([other])
    counts = {"a": 1, "b": 2}
    history.tick(20, counts)
    assert history.points(other, 0, 20 * S) == [(20 * S, counts[other])]
    assert history.stats()["untracked"] == 0


def test_prune_keeps_the_value_at_the_cutoff_and_state_round_trips():
    history = CounterHistory(interval=10, retention=100)
    for t, value in ((10, 1), (50, 2), (200, 3)):
        history.note(["a"])
        history.tick(t, {"a": value})
    history.prune(230)  # cutoff 130: the change at 50 gives the value until 200
    assert history.points("a", 0, 230 * S)[:2] == [(130 * S, 2), (140 * S, 2)]
    assert history.stats()["changes"] == 2
    copy = CounterHistory(interval=10, retention=100)
    copy.load(orjson.loads(statefile.encode(history.state())))  # as the actor saves it
    assert copy.points("a", 0, 230 * S) == history.points("a", 0, 230 * S)  # the floor too
    assert copy.points("a", 190 * S, 210 * S) == [(190 * S, 2), (200 * S, 3)]


def test_each_tick_forgets_what_is_past_the_retention():
    history = CounterHistory(interval=10, retention=100)
    for t, value in ((10, 1), (50, 2), (300, 3)):
        history.note(["a"])
        history.tick(t, {"a": value})  # no prune() called: the tick does it
    assert history.points("a", 0, 300 * S)[0] == (200 * S, 2)
    assert history.stats()["changes"] == 2


def test_a_history_is_saved_packed_and_read_back_exactly():
    history = CounterHistory(interval=10, retention=10**9)
    values = [0, 5, 2**62, 3, -(2**62), 2**63 - 1]  # a reset, then steps past int64 apart
    for k, value in enumerate(values):
        history.note(["a", "b"])
        history.tick(10 * (k + 1), {"a": value, "b": k})
    saved = statefile.encode(history.state())
    assert saved.count(b'"q":') == 4  # packed, a's values too, though their steps pass int64
    copy = CounterHistory(interval=10, retention=10**9)
    copy.load(orjson.loads(saved))
    for label in ("a", "b"):
        assert copy.points(label, 0, 100 * S) == history.points(label, 0, 100 * S)
    assert [v for _, v in copy.points("a", 0, 100 * S)] == values


@settings(max_examples=200, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.integers(0, 3)), min_size=1, max_size=30))
def test_every_tick_reads_the_value_it_had(steps):
    history = CounterHistory(interval=10, retention=10**9)
    now, value, seen = 0.0, 0, {}
    for seconds, grow in steps:
        now += seconds
        if grow:
            value += grow
            history.note(["a"])
        history.tick(now, {"a": value})
        seen.setdefault(int(now) // 10 * 10, value)  # a tick stores what its first call sees
    # Every tick from the first that saw a change to the last, each with the value the
    # newest tick at or before it saw (a tick without a call carries the one before).
    changed = [tick for tick, v in seen.items() if v > 0]
    expected = []
    if changed:
        for t in range(changed[0], max(seen) + 1, 10):
            expected.append((t * S, seen[max(tick for tick in seen if tick <= t)]))
    assert history.points("a", 0, int(now) * S) == expected


def test_a_change_after_the_saved_state_shows_from_the_first_tick_after_loading():
    history = CounterHistory(interval=10)
    history.note(["a"])
    history.tick(10, {"a": 1})
    saved = statefile.encode(history.state())  # as the actor writes it
    restarted = CounterHistory(interval=10)
    restarted.load(orjson.loads(saved))
    restarted.tick(30, {"a": 5})  # "a" grew after the save; the log gave it back
    assert restarted.points("a", 0, 30 * S) == [(10 * S, 1), (20 * S, 1), (30 * S, 5)]


def test_has_answers_as_points_would():
    history = CounterHistory(interval=10, retention=100)
    for t, value in ((10, 1), (50, 2), (200, 3)):
        history.note(["a"])
        history.tick(t, {"a": value})
    spans = [(a * S, b * S) for a in range(0, 230, 7) for b in range(a, 240, 11)]
    for label in ("a", "unknown"):
        for start, end in spans:
            assert history.has(label, start, end) is bool(history.points(label, start, end))
