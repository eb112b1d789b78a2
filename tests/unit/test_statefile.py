"""The record buffers' state file: encoded in bounded pieces, the same JSON as one call, written
whole or not at all; and the log's switch from one file to the next."""

import os
import sqlite3

import orjson
import pytest

from cluster.actor import statefile
from cluster.actor.log import DurableLog, LogError
from cluster.common import wire

SHAPES = [
    {},
    [],
    {"a": 1, "b": None, "c": "x"},
    {"a": [1, 2, {"b": [3]}], "c": {"d": []}},
    [(1.5, "u", "m", 2)] * (2 * statefile.STEP + 3),  # events: rows, in slices
    {"first_seen": {f"u{i}": float(i) for i in range(statefile.STEP + 1)}},
    [((f"g{i}", i), 7) for i in range(statefile.STEP + 1)],  # ((generator, seq), window)
    {"series": {"t": {"raw": [(1.0, 2.0)] * 10, "floors": {}, "newest": 1.0}}},
    [list(range(20))],  # a long list inside a list: not a row
]


@pytest.mark.parametrize("value", SHAPES, ids=range(len(SHAPES)))
def test_pieces_make_the_json_one_call_makes(value):
    assert orjson.loads(statefile.encode(value)) == orjson.loads(orjson.dumps(value))


def test_sets_are_written_as_arrays():
    assert sorted(orjson.loads(statefile.encode({"users": {"ann", "bob"}}))["users"]) == [
        "ann",
        "bob",
    ]


def test_a_big_list_is_encoded_in_pieces_of_at_most_a_step():
    rows = [(float(i), "user", "metric", i) for i in range(3 * statefile.STEP)]
    pieces = list(statefile.pieces({"recent": rows}))
    one_row = len(orjson.dumps(rows[-1]))
    assert len(pieces) > 3
    assert max(len(p) for p in pieces) <= statefile.STEP * (one_row + 1)


def test_write_is_private_whole_and_on_disk(tmp_path, monkeypatch):
    path = tmp_path / "s.state.1"
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(statefile.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    assert statefile.write(path, {"a": [1, 2]}) == len(b'{"a":[1,2]}')
    assert len(synced) == 2  # the file, then its directory (the rename)
    assert statefile.read(path) == {"a": [1, 2]}
    assert os.stat(path).st_mode & 0o777 == 0o600

    def broken(_value):
        yield b"{"
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(statefile, "pieces", broken)
    with pytest.raises(OSError):
        statefile.write(path, {"b": 1})
    assert statefile.read(path) == {"a": [1, 2]}  # the file in place is untouched


def records_batch(seq, value):
    return wire.BatchId("n", seq), [wire.Sample("t", 1_700_000_000.0 + seq, value)]


def test_the_log_switches_files_and_drops_the_rows_the_new_one_holds(tmp_path):
    log = DurableLog(tmp_path / "c.sqlite3")
    for seq in (1, 2):
        batch_id, records = records_batch(seq, float(seq))
        log.commit(batch_id, {}, {}, 0.0, records)
    mark, path = log.records_mark(), log.next_state_file()
    batch_id, records = records_batch(3, 3.0)
    log.commit(batch_id, {}, {}, 0.0, records)  # after the state was taken: stays
    statefile.write(path, {"series": "as of row 2"})
    log.switch_state(path, mark)
    recovered = log.load()
    assert recovered.state == {"series": "as of row 2"}
    assert recovered.records == records
    # The next file replaces this one, which then goes.
    nxt = log.next_state_file()
    statefile.write(nxt, {"series": "later"})
    log.switch_state(nxt, log.records_mark())
    assert not path.exists() and log.load().state == {"series": "later"}
    assert log.load().records == []


def test_a_file_written_but_never_switched_to_changes_nothing(tmp_path):
    log = DurableLog(tmp_path / "c.sqlite3")
    batch_id, records = records_batch(1, 1.0)
    log.commit(batch_id, {}, {}, 0.0, records)
    statefile.write(log.next_state_file(), {"series": "orphan"})  # then a crash
    recovered = log.load()
    assert recovered.state == {} and recovered.records == records
    with pytest.raises(ValueError):
        log.switch_state(tmp_path / "elsewhere", 1)


def test_a_missing_state_file_is_refused_with_its_name(tmp_path):
    log = DurableLog(tmp_path / "c.sqlite3")
    path = log.next_state_file()
    statefile.write(path, {})
    log.switch_state(path, 0)
    path.unlink()
    with pytest.raises(LogError, match="c.sqlite3.state.1"):
        log.load()


def test_a_format_3_state_table_is_read_until_a_file_replaces_it(tmp_path):
    log = DurableLog(tmp_path / "c.sqlite3")
    log.close()
    db = sqlite3.connect(tmp_path / "c.sqlite3")
    db.execute("INSERT INTO state VALUES ('hosts', ?)", (orjson.dumps([["h", 1, 2, 3, 4]]),))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('log_format', 3)")
    db.commit()
    db.close()
    log = DurableLog(tmp_path / "c.sqlite3")
    assert log.load().state == {"hosts": [["h", 1, 2, 3, 4]]}
    path = log.next_state_file()
    statefile.write(path, {"hosts": []})
    log.switch_state(path, 0)
    assert log.load().state == {"hosts": []}


def test_files_left_by_a_crash_go_at_the_next_start(tmp_path):
    log = DurableLog(tmp_path / "c.sqlite3")
    path = log.next_state_file()
    statefile.write(path, {"hosts": []})
    log.switch_state(path, 0)
    left = [log.next_state_file(), tmp_path / "c.sqlite3.state.2.tmp"]  # a save cut short
    for stale in left:
        stale.write_bytes(b"{")
    assert log.load().state == {"hosts": []}
    assert sorted(p.name for p in tmp_path.glob("c.sqlite3.state.*")) == ["c.sqlite3.state.1"]
