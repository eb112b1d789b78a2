"""The host rows' log (cluster/actor/hosts.py): each host's newest row, the live feed's."""

from __future__ import annotations

from cluster.actor.hosts import HostLog


def _ids_and_times(rows):
    return [(row["id"], row["timestamp"]) for row in rows]


def test_each_hosts_newest_row_newest_first_whatever_the_order_rows_came_in():
    log = HostLog()
    log.add("a", 1, 1, 1, 20.0)
    log.add("b", 2, 2, 2, 30.0)
    log.add("a", 3, 3, 3, 10.0)  # older, sent late
    assert _ids_and_times(log.newest()) == [
        ("b", "1970-01-01T00:00:30Z"),
        ("a", "1970-01-01T00:00:20Z"),
    ]


def test_a_hosts_newest_row_forgotten_leaves_its_newest_remaining():
    log = HostLog(max_rows=3)
    log.add("a", 1, 1, 1, 20.0)  # a's newest, added first: forgotten first
    log.add("a", 2, 2, 2, 10.0)
    log.add("b", 3, 3, 3, 30.0)
    log.add("b", 4, 4, 4, 40.0)  # forgets a's row at 20 s
    assert _ids_and_times(log.newest()) == [
        ("b", "1970-01-01T00:00:40Z"),
        ("a", "1970-01-01T00:00:10Z"),
    ]
    log.add("b", 5, 5, 5, 50.0)  # forgets a's last row
    assert [row["id"] for row in log.newest()] == ["b"]
    copy = HostLog(max_rows=3)
    copy.load(log.state())
    assert copy.newest() == log.newest()
