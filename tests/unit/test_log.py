import asyncio
import json
import sqlite3
from pathlib import Path

import orjson
import pytest

from cluster.actor import MetricsActor, statefile
from cluster.actor.log import DurableLog, LogError
from cluster.common import wire
from cluster.common.wire import LOG_FORMAT
from cluster.common.wire import BatchId as B

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_commit_then_load_replays_log_over_snapshot(tmp_path):
    path = tmp_path / "s.sqlite3"
    storage = DurableLog(path)
    assert storage.load().epoch == 1
    storage.commit(B("n", 1), {"a": 1, "b": 1}, {}, now=100.0)
    storage.snapshot({"a": 1, "b": 1})
    storage.commit(B("n", 2), {"a": 5}, {"k": (b"digest", b'{"a":5}')}, now=101.0)
    storage.close()
    recovered = DurableLog(path).load()
    assert recovered.counts == {"a": 5, "b": 1}
    assert recovered.replayed == {"a"} and recovered.log_rows == 1
    assert set(recovered.applied) == {B("n", 1), B("n", 2)}
    assert recovered.idempotency["k"] == (b"digest", b'{"a":5}', 101.0)
    assert recovered.epoch == 2


def test_forget_deletes_by_name_and_load_skips_expired_keys(tmp_path):
    storage = DurableLog(tmp_path / "s.sqlite3")
    storage.commit(B("n", 1), {"a": 1}, {"old": (b"d1", b"{}")}, now=10.0)
    storage.commit(B("n", 2), {"a": 2}, {"new": (b"d2", b"{}")}, now=20.0)
    storage.commit(B("n", 3), {"a": 3}, {"newer": (b"d3", b"{}")}, now=30.0)
    storage.forget([B("n", 1)], ["new"])
    recovered = storage.load(keys_since=15.0)
    assert list(recovered.applied) == [B("n", 2), B("n", 3)]
    assert list(recovered.idempotency) == ["newer"]  # "old" expired, "new" forgotten
    assert recovered.counts == {"a": 3}


def test_same_batch_id_twice_is_an_error_and_changes_nothing(tmp_path):
    storage = DurableLog(tmp_path / "s.sqlite3")
    storage.commit(B("n", 1), {"a": 1}, {}, now=1.0)
    with pytest.raises(LogError):
        storage.commit(B("n", 1), {"a": 2}, {}, now=2.0)
    assert storage.load().counts == {"a": 1}


def test_file_that_is_not_a_database_is_named_in_the_error(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LogError, match=str(path)):
        DurableLog(path).load()


def test_torn_database_file_is_an_error_not_an_empty_state(tmp_path):
    path = tmp_path / "s.sqlite3"
    storage = DurableLog(path)
    for i in range(200):
        storage.commit(B("n", i), {f"label-{i}-{'x' * 100}": i}, {}, now=1.0)
    storage.snapshot({f"label-{i}-{'x' * 100}": i for i in range(200)})
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    storage.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:  # keep the first page (header and schema), tear the rest
        f.seek(4096)
        f.write(b"\x00" * (size - 4096))
    with pytest.raises(LogError, match=str(path)):
        DurableLog(path).load()


def load_fixture(path: Path) -> None:
    """The log in tests/fixtures/log_v1.sql, written by the code before the typed wire (log
    format 1: no version row), with counters, keys, every record kind, a snapshot and a log."""
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "log_v1.sql").read_text())
    db.close()


def test_a_format_1_log_recovers_whole_and_is_marked_the_current_format(tmp_path):
    path = tmp_path / "counters.sqlite3"
    load_fixture(path)
    expected = json.loads((FIXTURES / "log_v1_expected.json").read_text())
    # The fixture's keys were stored long ago: a window that still holds them.
    actor = MetricsActor(str(path), idempotency_window=1e10)

    def read(query):
        return asyncio.run(actor.read(query))

    assert orjson.loads(read(wire.AllCounters())) == expected["counters"]
    assert read(wire.SeriesNames()) == expected["series_names"]
    hour = read(wire.SeriesRange("temp", "hour", 0, 1_706_745_600 + 86400))
    assert [list(bucket_row(b)) for b in hour] == expected["series_hour"]
    assert read(wire.LatestHosts(10)) == expected["hosts"]
    assert read(wire.FirstSeen("ann")) == expected["first_seen_ann"]
    day = expected["distinct_users"]["day"]
    assert read(wire.DistinctUsers("kite_call", day)) == expected["distinct_users"]
    # Format 1 saved the integers' records as [generator, seq, window]; now they are pairs.
    saved = orjson.loads(statefile.encode(actor._records.integers.state()))
    expected_ints = expected["integers_state"]
    assert [[*key, k] for key, k in saved.pop("seen")] == expected_ints.pop("seen")
    assert saved == expected_ints
    assert sorted(actor._keys) == expected["keys"]
    assert sorted([b.node, b.seq] for b in actor._applied) == expected["applied"]
    # A key's first answer survives the format change: the same request gets it again...
    again = wire.Request([wire.Increment(["c"], 3)], "key-1")
    done = actor.apply_now(wire.Batch(B("later", 1), {}, [again]))
    assert done.requests == [wire.Applied({"c": 3})]
    # ...and an event's key too, although its stamp differs (it is not part of the request).
    event = wire.Event("ann", "kite_call", 7, 0.0)
    retry = wire.Request([wire.Increment(["kite_call"], 7)], "key-2", [event])
    done = actor.apply_now(wire.Batch(B("later", 2), {}, [retry]))
    assert done.requests == [wire.Applied({"kite_call": 7})]
    assert orjson.loads(read(wire.AllCounters())) == expected["counters"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'log_format'").fetchone() == (LOG_FORMAT,)
    digests = [len(d) for (d,) in db.execute("SELECT request FROM idempotency")]
    assert digests and set(digests) == {16}


def bucket_row(bucket: wire.Bucket) -> tuple:
    return (bucket.start, bucket.count, bucket.total, bucket.low, bucket.high)


def test_a_log_of_a_newer_format_is_refused_not_misread(tmp_path):
    path = tmp_path / "counters.sqlite3"
    DurableLog(path).load()
    db = sqlite3.connect(path)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('log_format', ?)", (LOG_FORMAT + 1,))
    db.commit()
    db.close()
    with pytest.raises(LogError, match=f"log format {LOG_FORMAT + 1}"):
        DurableLog(path).load()


def test_a_log_is_private_and_refused_without_wal(tmp_path, monkeypatch):
    path = tmp_path / "data" / "c.sqlite3"
    path.parent.mkdir()
    path.touch(mode=0o644)
    path.chmod(0o644)  # left open by an older version
    log = DurableLog(path)
    log.commit(B("n", 1), {"a": 1}, {}, 0.0)  # the -wal and -shm files exist while open
    files = list(path.parent.iterdir())
    assert len(files) == 3 and all(p.stat().st_mode & 0o777 == 0o600 for p in files), files
    log.close()

    real = sqlite3.connect

    class NoWal:
        """A connection on a file system without shared memory: WAL is refused."""

        def __init__(self, *args, **kwargs):
            self._db = real(*args, **kwargs)

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA journal_mode"):
                return self._db.execute("SELECT 'delete'")
            return self._db.execute(sql, *args)

    monkeypatch.setattr("cluster.actor.log.sqlite3.connect", NoWal)
    with pytest.raises(LogError, match="refused WAL mode"):
        DurableLog(tmp_path / "other.sqlite3")
