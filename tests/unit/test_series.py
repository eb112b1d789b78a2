import math

import orjson
import pytest

from cluster.actor import statefile
from cluster.actor.series import Retention, SeriesBuffer
from cluster.common.errors import InvalidInput, NotFound

DAY = 86400
T0 = 1_700_000_000 - 1_700_000_000 % DAY  # a midnight, UTC


def test_rollups_average_per_bucket_newest_first_end_inclusive():
    buf = SeriesBuffer()
    for ts, v in [(T0 + 5, 10.0), (T0 + 30, 20.0), (T0 + 65, 40.0), (T0 + 3600, 7.0)]:
        buf.add("temp", ts, v)
    minutes = buf.query("temp", "minute", T0, T0 + 3600)
    assert [(b - T0, r.count, r.total / r.count) for b, r in minutes] == [
        (3600, 1, 7.0),
        (60, 1, 40.0),
        (0, 2, 15.0),
    ]
    ((hour0_start, hour0),) = buf.query("temp", "hour", T0, T0)
    assert hour0_start == T0 and (hour0.count, hour0.low, hour0.high) == (3, 10.0, 40.0)
    ((_, day),) = buf.query("temp", "day", T0, T0)
    assert day.count == 4 and math.isclose(day.total / day.count, 77 / 4)


def test_out_of_order_samples_land_in_their_own_bucket():
    buf = SeriesBuffer()
    buf.add("m", T0 + 120, 1.0)
    buf.add("m", T0 + 10, 3.0)  # late, earlier minute
    assert [ts for ts, _ in buf.raw("m")] == [T0 + 10, T0 + 120]
    assert [(b - T0, r.total / r.count) for b, r in buf.query("m", "minute", T0, T0 + 200)] == [
        (120, 1.0),
        (0, 3.0),
    ]


def test_sample_older_than_a_resolutions_retention_skips_only_that_resolution():
    buf = SeriesBuffer(Retention(raw_seconds=60, minute=3600, hour=None, day=None))
    buf.add("m", T0 + 10 * 3600, 1.0)  # the series' newest sample: retention counts from it
    buf.add("m", T0, 5.0)  # ten hours older
    assert [v for _, v in buf.raw("m")] == [1.0]
    assert [r.total / r.count for _, r in buf.query("m", "minute", T0 - DAY, T0 + DAY)] == [1.0]
    assert len(buf.query("m", "hour", T0 - DAY, T0 + DAY)) == 2


def test_historical_series_keeps_its_recent_history_at_every_resolution():
    """The original simulator posts dates in 2023-2024: retention follows the series' own
    newest sample, not the server's clock."""
    buf = SeriesBuffer(Retention(minute=7 * DAY, hour=90 * DAY))
    old = 1_706_745_600  # 2024-02-01T00:00:00Z
    for i in range(10):
        buf.add("metric_a", old + i * 3600, 20.0 + i)
    buf.prune()
    assert len(buf.query("metric_a", "minute", old, old + DAY)) == 10
    assert len(buf.query("metric_a", "hour", old, old + DAY)) == 10


def test_raw_samples_are_bounded_by_count_and_age():
    buf = SeriesBuffer(Retention(raw_seconds=100, raw_count=3))
    for i in range(5):
        buf.add("m", T0 + i, float(i))
    assert [v for _, v in buf.raw("m")] == [2.0, 3.0, 4.0]
    buf.add("m", T0 + 104, 9.0)  # keeps samples from T0 + 4 on
    buf.prune()
    assert [v for _, v in buf.raw("m")] == [4.0, 9.0]


def test_prune_forgets_expired_buckets_and_keeps_days_forever():
    buf = SeriesBuffer(Retention(minute=3600, hour=DAY, day=None))
    buf.add("m", T0, 1.0)
    buf.add("m", T0 + 2 * DAY, 2.0)
    buf.prune()
    assert [b for b, _ in buf.query("m", "minute", 0, T0 * 2)] == [T0 + 2 * DAY]
    assert [b for b, _ in buf.query("m", "hour", 0, T0 * 2)] == [T0 + 2 * DAY]
    assert len(buf.query("m", "day", 0, T0 * 2)) == 2


def test_new_series_past_the_limit_is_refused():
    buf = SeriesBuffer(max_series=2)
    buf.add("a", T0, 1.0)
    buf.add("b", T0, 1.0)
    assert buf.unknown({"a", "c"}) == {"c"}
    assert buf.refuse(0) is None  # existing series still take samples
    assert "limit is 2" in buf.refuse(1)
    assert "would add 2" in SeriesBuffer(max_series=1).refuse(2)


def test_state_round_trip_through_json_answers_the_same():
    buf = SeriesBuffer()
    for i in range(100):
        buf.add(f"m{i % 3}", T0 + i * 37, float(i))
    again = SeriesBuffer()
    again.load(orjson.loads(statefile.encode(buf.state())))
    assert again.names() == buf.names()
    for name in buf.names():
        assert again.raw(name) == buf.raw(name)
        for resolution in ("minute", "hour", "day"):
            assert again.query(name, resolution, 0, T0 * 2) == buf.query(
                name, resolution, 0, T0 * 2
            )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda b: b.query("m", "week", T0, T0), InvalidInput),
        (lambda b: b.query("m", "minute", T0 + 1, T0), InvalidInput),
        (lambda b: b.query("nope", "minute", T0, T0), NotFound),
    ],
)
def test_bad_queries_are_refused(call, error):
    buf = SeriesBuffer()
    buf.add("m", T0, 1.0)
    with pytest.raises(error):
        call(buf)


def test_idle_series_expire_by_arrival_not_by_their_timestamps():
    buf = SeriesBuffer(max_series=2, idle_seconds=100)
    buf.add("historical", 1_706_745_600, 1.0)  # dated 2024: still active while it arrives
    buf.add("live", T0, 1.0)
    assert buf.expire(now=T0) == 0  # both stamped as seen now
    buf.add("live", T0 + 60, 2.0)
    assert buf.expire(now=T0 + 99) == 0
    assert buf.expire(now=T0 + 100) == 1  # 100 s without a sample
    assert buf.names() == ["live"]
    assert buf.refuse(1) is None  # its room is free again
    assert buf.expire(now=T0 + 198) == 0  # "live" was stamped at T0 + 99
    buf.prune(now=T0 + 199)
    assert buf.names() == []


def test_expire_spares_the_series_it_is_told_to_keep():
    buf = SeriesBuffer(idle_seconds=10)
    buf.add("a", T0, 1.0)
    buf.add("b", T0, 1.0)
    buf.expire(now=T0)
    assert buf.expire(now=T0 + 50, keep={"a"}) == 1
    assert buf.names() == ["a"]


def test_series_never_expire_without_an_idle_time():
    buf = SeriesBuffer()
    buf.add("a", T0, 1.0)
    buf.expire(now=T0)
    assert buf.expire(now=T0 + 100 * 365 * DAY) == 0


def test_buckets_are_bounded_per_series_even_kept_forever():
    """A sample per day since 1970 with days kept for ever: the newest `max_buckets` stay."""
    buf = SeriesBuffer(Retention(minute=None, hour=None, day=None), max_buckets=10)
    for day in range(40):
        buf.add("m", day * DAY, float(day))
    assert len(buf.query("m", "day", 0, T0)) <= 10 + 16  # trimmed as it grows
    buf.prune()
    kept = [b // DAY for b, _ in buf.query("m", "day", 0, T0)]
    assert kept == list(range(39, 29, -1))
    buf.add("m", 5 * DAY, 1.0)  # older than everything kept: skips the resolution
    buf.add("m", 35 * DAY, 1.0)  # within: counted
    assert [b // DAY for b, _ in buf.query("m", "day", 0, T0)] == kept
    assert buf.query("m", "day", 35 * DAY, 35 * DAY)[0][1].count == 2
    assert buf.stats()["buckets"] == {"minute": 10, "hour": 10, "day": 10}


def test_stats_count_what_is_held():
    buf = SeriesBuffer(max_series=5, idle_seconds=60)
    buf.add("a", T0, 1.0)
    buf.add("a", T0 + 61, 1.0)
    buf.add("b", T0, 1.0)
    assert buf.stats() == {
        "series": 2,
        "max_series": 5,
        "raw_samples": 3,
        "buckets": {"minute": 3, "hour": 2, "day": 2},
        "max_buckets_per_series": 20_000,
        "idle_seconds": 60,
    }


def test_state_saved_before_expiry_loads_and_counts_its_series_as_just_seen():
    buf = SeriesBuffer(idle_seconds=100)
    buf.add("a", T0, 1.0)
    old = buf.state()
    for series in old.values():  # what the previous code saved
        del series["seen_at"], series["floors"]
    again = SeriesBuffer(idle_seconds=100)
    again.load(orjson.loads(statefile.encode(old)))
    assert again.expire(now=T0 + 1000) == 0  # stamped now, not expired at once
    assert again.raw("a") == buf.raw("a")
    assert again.expire(now=T0 + 1100) == 1


def test_state_round_trip_keeps_idle_times_and_floors():
    buf = SeriesBuffer(Retention(day=None), idle_seconds=100, max_buckets=10)
    for day in range(20):
        buf.add("m", day * DAY, 1.0)
    buf.prune(now=T0)
    again = SeriesBuffer(Retention(day=None), idle_seconds=100, max_buckets=10)
    again.load(orjson.loads(statefile.encode(buf.state())))
    again.add("m", 0, 1.0)  # below the floor: skipped by the day resolution
    assert again.query("m", "day", 0, T0) == buf.query("m", "day", 0, T0)
    assert again.expire(now=T0 + 100) == 0  # the sample just added counts


def test_a_state_saved_with_raw_pairs_loads_as_columns():
    buf = SeriesBuffer()
    for ts, value in ((T0, 1.0), (T0 + 0.0004, 2.0), (T0 + 5, 3.0)):
        buf.add("a", ts, value)
    old = buf.state()
    for series in old.values():  # what the code before columns saved: pairs in seconds
        series["raw"] = [[T0, 1.0], [T0 + 0.0004, 2.0], [T0 + 5, 3.0]]
        del series["times"], series["values"]
    again = SeriesBuffer()
    again.load(orjson.loads(orjson.dumps(old)))
    assert again.raw("a") == buf.raw("a") == [(T0, 2.0), (T0 + 5, 3.0)]  # one a millisecond
