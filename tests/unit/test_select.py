"""The actor's side of a query (cluster/actor/select.py): which series and points it hands
over, in one call, and the bounds it keeps."""

from __future__ import annotations

import pytest

from api import promql
from cluster.actor import select, series
from cluster.actor.history import CounterHistory
from cluster.actor.series import SeriesBuffer
from cluster.common import wire
from cluster.query import QueryError


def _buffer() -> SeriesBuffer:
    buffer = SeriesBuffer(max_series=10)
    for job in ("a", "b", "c"):
        for ts in (10.0, 20.0, 30.0):
            buffer.add("x", ts, ts, (("job", job),))
    buffer.add("x", 30.0004, 99.0, (("job", "a"),))  # the same millisecond as 30.0: it wins
    return buffer


def _points(found: wire.SeriesData) -> tuple[list[int], list[float]]:
    times, values = found.columns()
    return times.tolist(), values.tolist()


def _select(spans, buffer=None, **bounds) -> list[wire.SeriesData]:
    query = wire.Select(spans, **bounds)
    return select.select(query, [select.samples_source(buffer or _buffer())])


def test_points_in_the_span_one_a_millisecond():
    [a] = _select([wire.Span([("job", "=", "a")], 20_000, 30_000)])
    assert a.labels == [("__name__", "x"), ("job", "a")]
    assert _points(a) == ([20_000, 30_000], [20.0, 99.0])


def test_overlapping_spans_give_each_point_once():
    spans = [
        wire.Span([("job", "=", "b")], 0, 20_000),
        wire.Span([("job", "=~", "b|c")], 15_000, 40_000),
    ]
    found = {dict(s.labels)["job"]: _points(s)[0] for s in _select(spans)}
    assert found == {"b": [10_000, 20_000, 30_000], "c": [20_000, 30_000]}


def test_the_bounds_are_execution_errors():
    everything = [wire.Span([("__name__", "=", "x")], 0, 40_000)]
    with pytest.raises(QueryError, match="more than 2 series") as raised:
        _select(everything, max_series=2)
    assert raised.value.error_type == "execution"
    with pytest.raises(QueryError, match="more than 8 samples"):
        _select(everything, max_points=8)
    assert len(_select(everything, max_series=3, max_points=9)) == 3


def test_a_bad_regex_is_bad_data():
    with pytest.raises(QueryError, match="invalid regex") as raised:
        _select([wire.Span([("job", "=~", "(")], 0, 1)])
    assert raised.value.error_type == "bad_data"


def test_counters_read_their_history_and_their_value_now():
    history = CounterHistory(interval=10)
    history.note(["c"])
    history.tick(100, {"c": 1})
    history.tick(125, {"c": 1})  # nothing changed: only the newest tick moves on, to 120
    counts = {"c": 3}  # changed since, not ticked yet
    view = select.CounterView(counts, history.points, now_ms=125_500)
    sources = [select.counters_source(view)]
    [c] = select.select(wire.Select([wire.Span([("__name__", "=", "c")], 0, 200_000)]), sources)
    assert list(zip(*_points(c), strict=True)) == [
        (100_000, 1.0),
        (110_000, 1.0),
        (120_000, 1.0),
        (125_500, 3.0),  # the present
    ]
    # A span ending just before the present (the node's clock read first) still takes it.
    [c] = select.select(wire.Select([wire.Span([("__name__", "=", "c")], 0, 125_000)]), sources)
    times, values = _points(c)
    assert (times[-1], values[-1]) == (125_000, 3.0)
    # One ending long before it does not.
    [c] = select.select(wire.Select([wire.Span([("__name__", "=", "c")], 0, 115_000)]), sources)
    assert _points(c)[1] == [1.0, 1.0]
    # A label read asks whether there is a point, without building the points.
    view = select.CounterView(counts, history.points, 125_500, history.has)
    for (start, end), listed in [((0, 115_000), True), ((121_000, 123_000), False)]:
        label_read = wire.Select([wire.Span([("__name__", "=", "c")], start, end)], False)
        assert bool(select.select(label_read, [select.counters_source(view)])) is listed


def test_the_first_part_holding_a_label_set_has_it():
    buffer = SeriesBuffer()
    buffer.add("shared", 1.0, 7.0)
    view = select.CounterView({"shared": 5, "only": 1}, lambda *_: [], now_ms=2_000)
    sources = [select.samples_source(buffer), select.counters_source(view)]
    found = select.select(wire.Select([wire.Span([("__name__", "=~", ".+")], 0, 3_000)]), sources)
    assert sorted((dict(s.labels)["__name__"], _points(s)[1]) for s in found) == [
        ("only", [1.0]),
        ("shared", [7.0]),
    ]


def test_delete_selects_sample_series_and_counters():
    keys, counters = select.to_delete(
        [[("job", "=", "a")], [("__name__", "=~", "c.*")]], _buffer(), {"c1": 1, "d": 2}
    )
    assert keys == {wire.series_key("x", (("job", "a"),))}
    assert counters == {"c1"}


def test_the_budget_refuses_a_scan_before_it_runs():
    many = SeriesBuffer(max_series=100)
    for i in range(50):
        many.add(f"m{i}", 1.0, 1.0)
    sources = [select.samples_source(many)]
    by_label = wire.Select([wire.Span([("job", "=", "x")], 0, 2_000)] * 3)
    # one selector three times is looked up once: 50 series, within a budget of 60
    assert select.select(by_label, sources, select.Budget(60)) == []
    two = wire.Select([wire.Span([("job", "=", "x")], 0, 2_000), wire.Span([], 0, 2_000)])
    with pytest.raises(QueryError, match="more than 60 series") as raised:
        select.select(two, sources, select.Budget(60))
    assert raised.value.error_type == "execution"
    # a selector naming its metric looks at that name's series only
    named = wire.Select([wire.Span([("__name__", "=", f"m{i}")], 0, 2_000) for i in range(5)])
    assert len(select.select(named, sources, select.Budget(5))) == 5


def test_a_read_of_labels_counts_no_points():
    spans = [wire.Span([("__name__", "=", "x")], 0, 40_000)]
    found = _select(spans, max_points=1, points=False)
    assert [dict(s.labels)["job"] for s in found] == ["a", "b", "c"]
    assert all(_points(s) == ([], []) for s in found)
    # a series without a point in the span is not listed
    assert _select([wire.Span([("job", "=", "a")], 31_000, 40_000)], points=False) == []


def test_of_equal_times_the_last_posted_wins_and_times_truncate():
    buffer = SeriesBuffer()
    buffer.add("y", 5.0, 3.0)
    buffer.add("y", 5.0, 1.0)  # smaller, but posted later
    buffer.add("y", 1.0019, 7.0)  # 1001.9 ms reads as 1001, as Prometheus keeps it
    [y] = _select([wire.Span([("__name__", "=", "y")], 0, 10_000)], buffer)
    assert _points(y) == ([1001, 5000], [7.0, 1.0])
    assert series.to_ms(1.001) == 1001


def test_a_regex_on_the_name_looks_at_the_names_then_their_series():
    buffer = SeriesBuffer(max_series=100)
    for i in range(100):
        buffer.add(f"n{i % 5}", 1.0, 1.0, (("i", str(i)),))
    query = wire.Select([wire.Span([("__name__", "=~", "n1")], 0, 2_000)])
    found = select.select(query, [select.samples_source(buffer)], select.Budget(25))
    assert len(found) == 20  # 5 names and n1's 20 series looked at: within 25
    everything = wire.Select([wire.Span([("i", "!=", "x")], 0, 2_000)])
    with pytest.raises(QueryError, match="more than 25 series"):
        select.select(everything, [select.samples_source(buffer)], select.Budget(25))


def test_the_node_reads_the_columns_the_actor_hands_over():
    found = _select([wire.Span([("job", "=~", "a|b")], 0, 40_000)])
    read = promql._storage(wire.decode_selected(wire.encode(found)))
    by_job = {
        s.labels["job"]: (list(s.times_ms), list(s.values))
        for s in read.select([], -(2**62), 2**62)
    }
    assert by_job == {
        "a": ([10_000, 20_000, 30_000], [10.0, 20.0, 99.0]),
        "b": ([10_000, 20_000, 30_000], [10.0, 20.0, 30.0]),
    }


def _label_reads(name, start, end, budget=None, shadow_past=False):
    """label_values, and the same read done as a Select of every series (the reference)."""
    buffer = SeriesBuffer(max_series=10)
    buffer.add("shared", 1.0, 7.0)  # a sample without labels: it has the counter "shared"
    buffer.add("old", 1.0, 1.0)  # ... and "old", but its one point is long before the span
    buffer.add("x", 50.0, 1.0, (("job", "a"),))
    if shadow_past:  # the one counter with a history is a sample series' too
        buffer.add("past", 1.0, 1.0)
    history = CounterHistory(interval=10)
    history.note(["past"])
    history.tick(30, {"past": 4})
    counts = {"shared": 5, "old": 2, "past": 4, "now": 1, "integer_average": 3}
    view = select.CounterView(counts, history.points, 100_000, history.has, history.labels)
    samples = select.samples_source(buffer)
    after = [
        select.hosts_source(lambda: [("h1", 0.5, 0.25, 0.125, 60.0)]),
        select.integers_source(lambda: [(70.0, 2.0)]),  # the counter of that name has it
    ]
    query = wire.LabelValues(name, start, end)
    found = select.label_values(query, samples, view, after, budget)
    every = wire.Select([wire.Span([], start, end)], points=False)
    listed = select.select(every, [samples, select.counters_source(view), *after])
    pairs = [pair for s in listed for pair in s.labels]
    wanted = {k if name is None else v for k, v in pairs if name in (None, k)}
    assert len(set(found)) == len(found)  # each value once
    return sorted(found), sorted(wanted)


@pytest.mark.parametrize("name", [None, "__name__", "job", "id", "absent"])
@pytest.mark.parametrize(
    "span",
    [
        (0, 200_000),
        (20_000, 200_000),
        (40_000, 55_000),
        (0, 25_000),
        (95_000, 96_000),
        (60_000, 80_000),
        (25_000, 35_000),  # the history's first point, and not the present
        (29_000, 31_000),
    ],
)
@pytest.mark.parametrize("shadow_past", [False, True])
def test_a_label_read_of_every_series_finds_what_a_select_of_every_series_does(
    name, span, shadow_past
):
    found, wanted = _label_reads(name, *span, shadow_past=shadow_past)
    assert found == wanted


def test_a_label_read_takes_the_counters_in_bulk_when_the_span_takes_the_present():
    # 3 sample series, 3 host series and 1 integer series looked at; 5 counters not
    found, wanted = _label_reads("__name__", 20_000, 200_000, select.Budget(7))
    assert (
        found
        == wanted
        == [
            "host_cpu_usage",
            "host_disk_usage",
            "host_memory_usage",
            "integer_average",
            "now",
            "past",
            "x",
        ]
    )  # "shared" and "old" are their sample series', without a point in the span
    with pytest.raises(QueryError, match="more than 7 series"):  # each counter with a history
        _label_reads("__name__", 0, 25_000, select.Budget(7))
