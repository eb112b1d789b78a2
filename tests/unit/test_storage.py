import sqlite3

import pytest

from cluster.storage import Storage, StorageError


def test_commit_then_load_replays_log_over_snapshot(tmp_path):
    path = tmp_path / "s.sqlite3"
    storage = Storage(path)
    assert storage.load().epoch == 1
    storage.commit(("n", 1), {"a": 1, "b": 1}, {}, now=100.0)
    storage.snapshot({"a": 1, "b": 1}, forget_before=0, keys_before=0)
    storage.commit(("n", 2), {"a": 5}, {"k": (["x"], [5])}, now=101.0)
    storage.close()
    recovered = Storage(path).load()
    assert recovered.counts == {"a": 5, "b": 1}
    assert recovered.replayed == {"a"} and recovered.log_rows == 1
    assert set(recovered.applied) == {("n", 1), ("n", 2)}
    assert recovered.idempotency["k"][:2] == (["x"], [5])
    assert recovered.epoch == 2


def test_snapshot_forgets_old_ids_and_keys(tmp_path):
    storage = Storage(tmp_path / "s.sqlite3")
    storage.commit(("n", 1), {"a": 1}, {"old": ([], [])}, now=10.0)
    storage.commit(("n", 2), {"a": 2}, {"new": ([], [])}, now=20.0)
    storage.snapshot({"a": 2}, forget_before=15.0, keys_before=15.0)
    recovered = storage.load()
    assert list(recovered.applied) == [("n", 2)]
    assert list(recovered.idempotency) == ["new"]
    assert recovered.counts == {"a": 2} and recovered.replayed == set()


def test_same_batch_id_twice_is_an_error_and_changes_nothing(tmp_path):
    storage = Storage(tmp_path / "s.sqlite3")
    storage.commit(("n", 1), {"a": 1}, {}, now=1.0)
    with pytest.raises(StorageError):
        storage.commit(("n", 1), {"a": 2}, {}, now=2.0)
    assert storage.load().counts == {"a": 1}


def test_file_that_is_not_a_database_is_named_in_the_error(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=str(path)):
        Storage(path).load()


def test_torn_database_file_is_an_error_not_an_empty_state(tmp_path):
    path = tmp_path / "s.sqlite3"
    storage = Storage(path)
    for i in range(200):
        storage.commit(("n", i), {f"label-{i}-{'x' * 100}": i}, {}, now=1.0)
    storage.snapshot({f"label-{i}-{'x' * 100}": i for i in range(200)}, 0, 0)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    storage.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:  # keep the first page (header and schema), tear the rest
        f.seek(4096)
        f.write(b"\x00" * (size - 4096))
    with pytest.raises(StorageError, match=str(path)):
        Storage(path).load()
