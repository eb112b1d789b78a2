"""The query benchmark's data (scripts/query_bench.py): the shape the issue asks for."""

from __future__ import annotations

import random

from scripts import query_bench


def test_a_thousand_series_of_an_hour_at_10_s():
    data = query_bench.generate(1000, random.Random(1))
    assert len(data) == 1000
    assert {labels["job"] for labels, _ in data} == {f"job{i}" for i in range(10)}
    assert len({tuple(sorted(labels.items())) for labels, _ in data}) == 1000
    for _, points in data:
        times = [t for t, _ in points]
        assert len(times) == 360
        assert all(b - a == 10_000 for a, b in zip(times, times[1:], strict=False))
        assert times[0] % 1000 != 0  # off the second: no point on a window's edge
