"""The host rows' log (cluster/actor/hosts.py): each host's newest row, the live feed's."""

from __future__ import annotations

import random

from cluster.actor.hosts import HostLog


def _ids_and_times(rows):
    return [(row["id"], row["timestamp"]) for row in rows]


def test_each_hosts_newest_row_newest_first_whatever_the_order_rows_came_in():
    log = HostLog()
    log.add("a", 1, 1, 1, 20.0)
    log.add("b", 2, 2, 2, 30.0)
    log.add("a", 3, 3, 3, 10.0)  # older, sent late
    assert _ids_and_times(log.newest(10)) == [
        ("b", "1970-01-01T00:00:30Z"),
        ("a", "1970-01-01T00:00:20Z"),
    ]


def test_a_hosts_newest_row_forgotten_leaves_its_newest_remaining():
    log = HostLog(max_rows=3)
    log.add("a", 1, 1, 1, 20.0)  # a's newest, added first: forgotten first
    log.add("a", 2, 2, 2, 10.0)
    log.add("b", 3, 3, 3, 30.0)
    log.add("b", 4, 4, 4, 40.0)  # forgets a's row at 20 s
    assert _ids_and_times(log.newest(10)) == [
        ("b", "1970-01-01T00:00:40Z"),
        ("a", "1970-01-01T00:00:10Z"),
    ]
    log.add("b", 5, 5, 5, 50.0)  # forgets a's last row
    assert [row["id"] for row in log.newest(10)] == ["b"]
    copy = HostLog(max_rows=3)
    copy.load(log.state())
    assert copy.newest(10) == log.newest(10)


def test_the_newest_rows_match_a_scan_of_the_log_whatever_comes_and_goes():
    rng = random.Random(3)
    log = HostLog(max_rows=40)
    for _ in range(3_000):
        n = rng.randrange(12)
        # out of order, and repeats of one time; no two hosts share one (no ties to order)
        log.add(f"h{n}", rng.random(), 0, 0, rng.randrange(200) + n / 100)
        newest: dict[str, tuple] = {}
        for row in log.state():
            if row[0] not in newest or row[4] > newest[row[0]][4]:
                newest[row[0]] = row
        wanted = sorted(newest.values(), key=lambda row: row[4], reverse=True)[:5]
        assert [(r["id"], r["cpu_usage"]) for r in log.newest(5)] == [(r[0], r[1]) for r in wanted]
