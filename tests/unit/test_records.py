"""The record buffers together: limits that expire idle entries before refusing, and stats."""

from __future__ import annotations

import orjson

from cluster.actor import statefile
from cluster.actor.records import Pending, RecordLimits, Records
from cluster.common.timeutil import rfc3339
from cluster.common.wire import Event, Refused, Sample

T0 = 1_700_000_000.0
HOUR = 3600


def test_a_full_series_limit_frees_the_room_of_idle_series_first():
    records = Records(RecordLimits(max_series=1, series_idle_seconds=100))
    records.apply([Sample("old", T0, 1.0)])
    records.prune(T0)  # "old" seen now
    refused = records.check([Sample("new", T0 + 50, 1.0)], T0 + 50, Pending())
    assert isinstance(refused, Refused) and refused.reason == "limit"
    adds = records.check([Sample("new", T0 + 100, 1.0)], T0 + 100, Pending())
    assert isinstance(adds, Pending) and adds.names == {"new"}
    assert records.series.names() == []


def test_expiry_within_a_batch_spares_what_its_earlier_requests_named():
    records = Records(RecordLimits(max_series=1, series_idle_seconds=100))
    records.apply([Sample("old", T0, 1.0)])
    records.prune(T0)
    pending = Pending()
    pending.update(records.check([Sample("old", T0 + 200, 2.0)], T0 + 200, pending))
    refused = records.check([Sample("new", T0 + 200, 1.0)], T0 + 200, pending)
    assert isinstance(refused, Refused)  # "old" takes a sample in this batch: it stays
    assert records.series.names() == ["old"]


def test_a_full_users_limit_frees_the_room_of_idle_users_first():
    records = Records(RecordLimits(max_users=1, user_idle_seconds=100))
    records.apply([Event("ann", "clicks", 1, T0)])
    refused = records.check([Event("bob", "clicks", 1, T0 + 50)], T0 + 50, Pending())
    assert isinstance(refused, Refused) and refused.reason == "limit"
    assert f"at {rfc3339(T0 + 100)} (in 50 s)" in refused.detail
    adds = records.check([Event("bob", "clicks", 1, T0 + 100)], T0 + 100, Pending())
    assert isinstance(adds, Pending) and adds.users == {"bob"}


def test_a_full_last_hour_is_refused_as_busy_until_its_oldest_events_leave():
    records = Records(RecordLimits(max_recent_events=2))
    records.apply([Event("ann", "clicks", 1, T0), Event("ann", "clicks", 1, T0 + 10)])
    refused = records.check([Event("ann", "clicks", 1, T0 + 20)], T0 + 20, Pending())
    assert refused == Refused(
        "busy",
        "the last-hour log holds 2 events and this request adds 1; the limit is 2 events; "
        f"the room it needs frees up at {rfc3339(T0 + HOUR)} (in {HOUR - 20} s)",
    )
    later = records.check([Event("ann", "clicks", 1, T0 + HOUR)], T0 + HOUR, Pending())
    assert isinstance(later, Pending)


def test_prune_expires_idle_series_and_users():
    records = Records(RecordLimits(series_idle_seconds=10, user_idle_seconds=10))
    records.apply([Sample("m", T0, 1.0), Event("ann", "clicks", 1, T0)])
    records.prune(T0)
    records.prune(T0 + 10)
    stats = records.stats()
    assert (stats["series"]["series"], stats["events"]["users"]) == (0, 0)


def test_stats_of_every_part_are_json():
    stats = Records().stats()
    assert set(stats) == {"series", "hosts", "events", "integers", "history"}
    assert orjson.loads(orjson.dumps(stats)) == stats


def test_a_request_forgets_a_bounded_step_of_old_events_unless_it_needs_the_room():
    records = Records(RecordLimits(max_recent_events=30_000))
    records.apply([Event("ann", "clicks", 1, T0 + i / 1000) for i in range(30_000)])
    later = T0 + 2 * HOUR
    assert isinstance(records.check([Event("ann", "clicks", 1, later)], later, Pending()), Pending)
    assert records.stats()["events"]["recent_events"] == 10_000  # 20,000 forgotten this time
    many = [Event("ann", "clicks", 1, later)] * 25_000
    assert isinstance(records.check(many, later, Pending()), Pending)  # needed them all gone
    assert records.stats()["events"]["recent_events"] == 0


def test_a_state_saved_by_the_previous_code_loads_and_answers_the_same():
    from cluster.common.wire import HostRow, IntegerSample

    records = Records()
    records.apply(
        [
            Sample("cpu", T0, 1.0),
            HostRow("h1", 1.0, 2.0, 3.0, T0),
            Event("bob", "clicks", 3, T0 + 5),
            Event("ann", "clicks", 1, T0),  # out of order: held in arrival order before
            IntegerSample("g", 1, 7, T0),
        ]
    )
    old = orjson.loads(statefile.encode(records.state()))
    for series in old["series"].values():  # what the previous code saved lacked these
        del series["seen_at"], series["floors"]
    del old["events"]["last_seen"]
    old["events"]["recent"].sort(key=lambda event: event[1] != "bob")  # arrival order
    again = Records()
    again.load(old)
    now = T0 + 60
    assert again.events.hourly_per_user(now) == records.events.hourly_per_user(now)
    assert again.events.hourly_total(now) == records.events.hourly_total(now)
    assert again.series.raw("cpu") == records.series.raw("cpu")
    assert again.hosts.latest(5) == records.hosts.latest(5)
    assert again.integers.averages(T0 + 100) == records.integers.averages(T0 + 100)
    assert again.stats() == records.stats()
