import math

import pytest

from cluster.errors import InvalidInput, LimitReached, NotFound
from cluster.series import Retention, SeriesBuffer

DAY = 86400
T0 = 1_700_000_000 - 1_700_000_000 % DAY  # a midnight, UTC


def test_rollups_average_per_bucket_newest_first_end_inclusive():
    buf = SeriesBuffer()
    now = T0 + DAY
    for ts, v in [(T0 + 5, 10.0), (T0 + 30, 20.0), (T0 + 65, 40.0), (T0 + 3600, 7.0)]:
        buf.add("temp", ts, v, now)
    minutes = buf.query("temp", "minute", T0, T0 + 3600)
    assert [(b - T0, r.count, r.avg) for b, r in minutes] == [
        (3600, 1, 7.0),
        (60, 1, 40.0),
        (0, 2, 15.0),
    ]
    ((hour0_start, hour0),) = buf.query("temp", "hour", T0, T0)
    assert hour0_start == T0 and (hour0.count, hour0.low, hour0.high) == (3, 10.0, 40.0)
    ((_, day),) = buf.query("temp", "day", T0, T0)
    assert day.count == 4 and math.isclose(day.avg, 77 / 4)


def test_out_of_order_samples_land_in_their_own_bucket():
    buf = SeriesBuffer()
    buf.add("m", T0 + 120, 1.0, now=T0 + 200)
    buf.add("m", T0 + 10, 3.0, now=T0 + 200)  # late, earlier minute
    assert [ts for ts, _ in buf.raw("m")] == [T0 + 10, T0 + 120]
    assert [(b - T0, r.avg) for b, r in buf.query("m", "minute", T0, T0 + 200)] == [
        (120, 1.0),
        (0, 3.0),
    ]


def test_sample_older_than_a_resolutions_retention_skips_only_that_resolution():
    buf = SeriesBuffer(Retention(raw_seconds=60, minute=3600, hour=None, day=None))
    now = T0 + 10 * 3600
    buf.add("m", T0, 5.0, now)  # ten hours old
    assert buf.raw("m") == []
    assert buf.query("m", "minute", T0 - DAY, now) == []
    assert len(buf.query("m", "hour", T0 - DAY, now)) == 1


def test_raw_samples_are_bounded_by_count_and_age():
    buf = SeriesBuffer(Retention(raw_seconds=100, raw_count=3))
    for i in range(5):
        buf.add("m", T0 + i, float(i), now=T0 + i)
    assert [v for _, v in buf.raw("m")] == [2.0, 3.0, 4.0]
    buf.prune(now=T0 + 104)  # keeps samples from T0 + 4 on
    assert [v for _, v in buf.raw("m")] == [4.0]


def test_prune_forgets_expired_buckets_and_keeps_days_forever():
    buf = SeriesBuffer(Retention(minute=3600, hour=DAY, day=None))
    buf.add("m", T0, 1.0, now=T0)
    buf.prune(now=T0 + 2 * DAY)
    assert buf.query("m", "minute", 0, T0 * 2) == []
    assert buf.query("m", "hour", 0, T0 * 2) == []
    assert len(buf.query("m", "day", 0, T0 * 2)) == 1


def test_new_series_past_the_limit_is_refused_and_changes_nothing():
    buf = SeriesBuffer(max_series=2)
    buf.add("a", T0, 1.0, T0)
    buf.add("b", T0, 1.0, T0)
    with pytest.raises(LimitReached, match="'c'"):
        buf.add("c", T0, 1.0, T0)
    buf.add("a", T0 + 1, 2.0, T0 + 1)  # an existing series still takes samples
    assert buf.names() == ["a", "b"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda b: b.query("m", "week", T0, T0), InvalidInput),
        (lambda b: b.query("m", "minute", T0 + 1, T0), InvalidInput),
        (lambda b: b.query("nope", "minute", T0, T0), NotFound),
        (lambda b: b.add("m", T0, math.nan, T0), InvalidInput),
        (lambda b: b.add("m", math.inf, 1.0, T0), InvalidInput),
    ],
)
def test_bad_queries_and_samples_are_refused(call, error):
    buf = SeriesBuffer()
    buf.add("m", T0, 1.0, T0)
    with pytest.raises(error):
        call(buf)
