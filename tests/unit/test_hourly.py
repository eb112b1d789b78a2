"""The last hour's statistics, kept incrementally: always equal to a recount over the events
with ts > now - hour, and stable for a read that pauses."""

from __future__ import annotations

import random

import pytest

from cluster.actor import hourly
from cluster.actor.hourly import LastHour

HOUR = 3600
T0 = 1_700_000_000.0


def recount(events, now: float, per_user: bool) -> list[dict]:
    groups: dict = {}
    for ts, user, metric, count in events:
        if ts > now - HOUR:
            groups.setdefault((metric, user) if per_user else metric, []).append(count)
    return [
        {
            "_id": {"metric": key[0], "username": key[1]} if per_user else key,
            "average": sum(counts) / len(counts),
            "count": len(counts),
            "maximum": max(counts),
            "minimum": min(counts),
        }
        for key, counts in sorted(groups.items())
    ]


def run(chunks):
    return [row for chunk in chunks if chunk for row in chunk]


@pytest.mark.parametrize("seed", range(5))
def test_statistics_equal_a_recount_under_out_of_order_arrivals_and_ties(seed):
    rng = random.Random(seed)
    last, added = LastHour(HOUR), []
    clock = T0
    for i in range(6000):
        clock += rng.choice([0, 0, 0.5, 3])  # ties are common
        # Mostly in order, some late by up to a minute, a few older than the hour.
        ts = clock - rng.choice([0, 0, 0, rng.uniform(0, 60), rng.uniform(0, 2 * HOUR)])
        event = (ts, rng.choice("abcd"), rng.choice("xy"), rng.choice([0, 1, 2, 3, 5, 8, 13]))
        last.add(event)
        added.append(event)
        if i % 500 == 499:
            if rng.random() < 0.5:
                last.prune(clock, budget=rng.choice([None, 10]))
            for per_user in (False, True):
                assert run(last.chunks(clock, per_user)) == recount(added, clock, per_user)
    for now in (clock + HOUR / 2, clock + HOUR):
        for per_user in (False, True):
            assert run(last.chunks(now, per_user)) == recount(added, now, per_user)
    assert len(last) == 0 and last.keys == 0


def test_counts_that_only_rise_or_fall_keep_exact_extremes_as_they_leave():
    last = LastHour(HOUR)
    events = [(T0 + i, "ann", "up", i) for i in range(100)]
    events += [(T0 + i, "ann", "down", 100 - i) for i in range(100)]
    for event in events:
        last.add(event)
    for now in (T0 + HOUR, T0 + HOUR + 50, T0 + HOUR + 98):
        assert run(last.chunks(now, per_user=False)) == recount(events, now, False)


def test_a_read_that_pauses_answers_as_of_when_it_began_its_rows(monkeypatch):
    monkeypatch.setattr(hourly, "STEP", 2)  # a pause every two rows
    last = LastHour(HOUR)
    events = [(T0 + i, f"u{i}", "m", i) for i in range(6)]
    for event in events:
        last.add(event)
    steps = last.chunks(T0 + 10, per_user=True)
    assert next(steps) is None  # sorted its keys: the read has begun
    first = next(steps)  # u0 and u1
    last.add((T0 + 20, "u0", "m", 100))  # known keys change
    last.add((T0 + 20, "u4", "m", 100))
    last.add((T0 + 20, "new", "m", 1))  # a new key
    last.prune(T0 + HOUR + 2.5)  # u0, u1, u2 leave the hour
    assert first + run(steps) == recount(events, T0 + 10, per_user=True)
    later = run(last.chunks(T0 + HOUR + 2.5, per_user=True))
    assert [row["_id"]["username"] for row in later] == ["new", "u0", "u3", "u4", "u5"]
    assert later[3]["count"] == 2 and later[3]["maximum"] == 100
    assert later[1]["count"] == 1 and later[1]["maximum"] == 100


def test_a_read_past_a_long_backlog_forgets_it_in_steps(monkeypatch):
    monkeypatch.setattr(hourly, "STEP", 10)
    last = LastHour(HOUR)
    for i in range(100):
        last.add((T0 + i, "ann", "m", 1))
    steps = last.chunks(T0 + 2 * HOUR, per_user=False)
    assert next(steps) is None
    assert 0 < len(last) < 100  # one step's worth forgotten before the first pause
    assert run(steps) == []


def test_load_takes_events_in_any_order_and_answers_the_same():
    rng = random.Random(7)
    events = [
        (T0 + rng.uniform(0, HOUR), rng.choice("ab"), "m", rng.randint(0, 9)) for _ in range(300)
    ]
    last = LastHour(HOUR)
    last.load([list(event) for event in events])  # arrival order, as older states hold
    now = T0 + HOUR + HOUR / 2
    for per_user in (False, True):
        assert run(last.chunks(now, per_user)) == recount(events, now, per_user)
    copy = LastHour(HOUR)
    copy.load(last.state())
    assert copy.state() == last.state()


def test_after_a_read_with_a_clock_ahead_new_events_are_held_again():
    last = LastHour(HOUR)
    last.add((T0, "a", "m", 1))
    assert run(last.chunks(T0 + 86_400, per_user=False)) == []  # a day ahead: all past the hour
    last.add((T0 + 5, "a", "m", 2))  # the clock back: an event of now
    assert len(last) == 1
    assert run(last.chunks(T0 + 10, per_user=False)) == recount(
        [(T0 + 5, "a", "m", 2)], T0 + 10, False
    )
    last.add((T0 - 2 * HOUR, "a", "m", 3))  # past the hour of any clock seen: not held
    assert len(last) == 1
