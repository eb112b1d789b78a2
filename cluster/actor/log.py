"""The actor's durable log: SQLite in WAL mode, one transaction per applied batch.

Layout:
- `log`: one row per applied batch with the new absolute value of every label it changed. A row
  is cheap whatever the batch's size, and replaying absolute values is idempotent.
- `counters`: the snapshot. `snapshot()` folds the log into it and empties the log, so recovery
  reads at most one row per label plus the log written since the last snapshot.
- `applied`: the ids of recent batches, written in the batch's transaction, so a retried batch
  is recognised after a restart too. `idempotency`: the first answer to each Idempotency-Key,
  with a 16-byte digest of the request it answered (format 3; formats 1 and 2 kept the whole
  request, digested when the log is opened). The actor deletes ids and keys by name once their
  window has passed (`forget`), so no wall-clock jump decides what is forgotten; only keys
  still within their window are loaded.
- `meta`: the epoch, bumped at every open, and `log_format` (cluster/common/wire.py
  LOG_FORMAT; a log without it is format 1, which decodes the same way). A log of a newer
  format than this code knows is refused, not misread.
- `records`: one row per batch that carried records (samples, host rows, events, integers; see
  cluster/actor/records.py), replayed in order at recovery. The record buffers as of some row
  (`records_mark`) are saved in a state file beside the log (statefile.py), written by a thread
  while batches go on: `<log>.state.<n>`, n counting up. `switch_state` names the new file in
  `meta` and deletes the rows it holds, in one transaction, so recovery loads the file named and
  replays the rows left. Row ids only grow while rows exist; they restart only when a switch has
  emptied the table, and one save at a time runs. Format 3 kept the state in a `state` table,
  read while no file is named.

Durability: `process` (synchronous=NORMAL) keeps every committed batch when the process is
killed; `fsync` (synchronous=FULL) also when the machine loses power.
This module is pure: no Ray, no asyncio; the actor calls it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec
import orjson

from cluster.actor import statefile
from cluster.common.wire import LOG_FORMAT, BatchId, Record, log_encode, log_records, log_values

Durability = Literal["process", "fsync"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (label TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, changes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS applied (
    incarnation TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (incarnation, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, request BLOB NOT NULL,
    answer BLOB NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (part TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
"""


class LogError(Exception):
    """The log file cannot be used (corrupt, not a database, unwritable); names the file."""


@dataclass
class Recovered:
    counts: dict[str, int]
    applied: dict[BatchId, float]
    idempotency: dict[str, tuple[bytes, bytes, float]]  # key -> digest, answer (JSON), at
    epoch: int
    replayed: set[str]  # labels changed in the log since the last snapshot
    log_rows: int
    state: dict[str, Any]  # record buffers as of the last snapshot, by part
    records: list[Record]  # records committed since then, in order


@dataclass
class DurableLog:
    path: Path
    durability: Durability = "process"
    _db: sqlite3.Connection = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Counters and stored answers are for this user only; SQLite gives its -wal and -shm
        # files the database file's mode.
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            for path in (self.path, *self.path.parent.glob(f"{self.path.name}-*")):
                path.chmod(0o600)  # also what an older version left open (-wal, -shm)
        except OSError as exc:
            raise LogError(f"{self.path}: cannot create the log: {exc}") from exc
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            (mode,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode.lower() != "wal":  # e.g. a file system without shared memory
                raise LogError(
                    f"{self.path}: SQLite refused WAL mode (got {mode!r}); put the data dir on "
                    "a local file system"
                )
            self._db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise LogError(f"{self.path}: cannot open the log: {exc}") from exc

    def load(self, keys_since: float = 0.0) -> Recovered:
        """Everything committed so far (of the Idempotency-Keys, those stored at or after
        `keys_since`, oldest first), and a new epoch (committed before returning)."""
        try:
            db = self._db
            counts = dict(db.execute("SELECT label, value FROM counters"))
            log_rows = 0
            replayed: set[str] = set()
            self._check_format(keys_since)
            for (changes,) in db.execute("SELECT changes FROM log ORDER BY id"):
                values = log_values(changes)
                counts.update(values)
                replayed.update(values)
                log_rows += 1
            applied = {BatchId(n, seq): at for n, seq, at in db.execute("SELECT * FROM applied")}
            idempotency = {
                key: (digest, answer, at)
                for key, digest, answer, at in db.execute(
                    "SELECT * FROM idempotency WHERE at >= ? ORDER BY at", (keys_since,)
                )
            }
            state = self._state()
            records = []
            for (body,) in db.execute("SELECT body FROM records ORDER BY id"):
                records.extend(log_records(body))
                log_rows += 1
            row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
            epoch = (row[0] if row else 0) + 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (epoch,))
        except (sqlite3.DatabaseError, orjson.JSONDecodeError, msgspec.DecodeError) as exc:
            raise LogError(f"{self.path}: the log is corrupt: {exc}") from exc
        except OSError as exc:
            raise LogError(f"{self.path}: cannot read its state file: {exc}") from exc
        return Recovered(counts, applied, idempotency, epoch, replayed, log_rows, state, records)

    def commit(
        self,
        batch_id: BatchId,
        changes: dict[str, int],
        answers: dict[str, tuple[bytes, bytes]],
        now: float,
        records: list[Record] | None = None,
    ) -> None:
        """One batch, atomically: its new values, its records, its id, its Idempotency-Key
        answers."""
        db = self._db
        try:
            db.execute("BEGIN")
            if changes:
                db.execute("INSERT INTO log (changes) VALUES (?)", (log_encode(changes),))
            if records:
                db.execute("INSERT INTO records (body) VALUES (?)", (log_encode(records),))
            db.execute("INSERT INTO applied VALUES (?, ?, ?)", (batch_id.node, batch_id.seq, now))
            db.executemany(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
                [(k, digest, answer, now) for k, (digest, answer) in answers.items()],
            )
            db.execute("COMMIT")
        except Exception as exc:
            if db.in_transaction:  # whatever failed, the next batch must find no open BEGIN
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LogError(f"{self.path}: cannot write: {exc}") from exc
            raise

    def snapshot(self, values: dict[str, int], deleted: list[str] | None = None) -> None:
        """Fold the log into `counters` (given every label changed since the last snapshot);
        the `deleted` counters are removed in the same transaction."""

        def fold(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO counters VALUES (?, ?)", values.items())
            db.execute("DELETE FROM log")
            db.executemany("DELETE FROM counters WHERE label = ?", [(d,) for d in deleted or ()])

        self._in_transaction("write a snapshot", fold)

    def log_mark(self) -> int:
        """The last log row: a fold begun now covers it and every row before."""
        return self._last_row("log")

    def fold_step(self, values: dict[str, int]) -> None:
        """One step of a fold in steps: these counters' values into the snapshot, the log kept.
        The values are absolute, as the log's rows are: a step written again, or the log's
        rows replayed over it after a crash, give the same counts."""
        self._in_transaction(
            "write a snapshot",
            lambda db: db.executemany(
                "INSERT OR REPLACE INTO counters VALUES (?, ?)", values.items()
            ),
        )

    def fold_end(self, mark: int) -> None:
        """The last step: the log's rows up to `mark` (from `log_mark` when the fold began, its
        every label written by a step since) go. Rows after it stay for the next fold."""
        self._in_transaction(
            "write a snapshot", lambda db: db.execute("DELETE FROM log WHERE id <= ?", (mark,))
        )

    def _in_transaction(self, what: str, work: Callable[[sqlite3.Connection], object]) -> None:
        db = self._db
        try:
            db.execute("BEGIN")
            work(db)
            db.execute("COMMIT")
        except Exception as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LogError(f"{self.path}: cannot {what}: {exc}") from exc
            raise

    def records_mark(self) -> int:
        """The last records row: a state taken now holds it and every row before."""
        return self._last_row("records")

    def _last_row(self, table: Literal["log", "records"]) -> int:
        try:
            (mark,) = self._db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
        except sqlite3.Error as exc:
            raise LogError(f"{self.path}: cannot read: {exc}") from exc
        return mark

    def next_state_file(self) -> Path:
        """Where the next state file goes (a file left by a save that never switched is
        overwritten)."""
        return self._state_file(self._state_number() + 1)

    def switch_state(self, path: Path, mark: int) -> None:
        """Make `path` (from `next_state_file`, written whole) the state in force, holding every
        records row up to `mark`: those rows go, in the same transaction. Then the file it
        replaces goes too."""
        db, number = self._db, self._state_number() + 1
        if path != self._state_file(number):
            raise ValueError(f"{path} is not the next state file")
        try:
            # On disk before the old file goes, whatever the durability: with the switch lost
            # to a power cut the log would name a file that is gone.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('state_file', ?)", (number,))
            db.execute("DELETE FROM records WHERE id <= ?", (mark,))
            db.execute("DELETE FROM state")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise LogError(f"{self.path}: cannot switch to {path.name}: {exc}") from exc
        finally:
            with contextlib.suppress(sqlite3.Error):  # the error above, if any, tells more
                db.execute(f"PRAGMA synchronous={self._synchronous}")
        self._remove_stale_states(keep=path)

    def forget(self, batch_ids: list[BatchId], keys: list[str]) -> None:
        """Delete these batch ids and Idempotency-Keys (their windows have passed)."""
        db = self._db
        try:
            db.execute("BEGIN")
            db.executemany(
                "DELETE FROM applied WHERE incarnation = ? AND seq = ?",
                [(b.node, b.seq) for b in batch_ids],
            )
            db.executemany("DELETE FROM idempotency WHERE key = ?", [(k,) for k in keys])
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise LogError(f"{self.path}: cannot forget old ids: {exc}") from exc

    @property
    def _synchronous(self) -> str:
        return "FULL" if self.durability == "fsync" else "NORMAL"

    def _state(self) -> dict[str, Any]:
        number = self._state_number()
        if number:
            path = self._state_file(number)
            state = statefile.read(path)
            self._remove_stale_states(keep=path)  # left by a crash: the one named is read
            return state
        return {part: orjson.loads(body) for part, body in self._db.execute("SELECT * FROM state")}

    def _remove_stale_states(self, keep: Path) -> None:
        """Remove the state files but `keep`, and unfinished ones. A file that cannot be
        removed stays (the next switch tries again): the switch itself has succeeded."""
        for path in self.path.parent.glob(f"{self.path.name}.state.*"):
            if path != keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    def _state_number(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'state_file'").fetchone()
        return row[0] if row else 0

    def _state_file(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.state.{number}")

    def _check_format(self, keys_since: float) -> None:
        db = self._db
        row = db.execute("SELECT value FROM meta WHERE key = 'log_format'").fetchone()
        found = row[0] if row else 1
        if found > LOG_FORMAT:
            raise LogError(
                f"{self.path}: written in log format {found}, newer than this code's "
                f"{LOG_FORMAT}; run the version that wrote it"
            )
        if found < LOG_FORMAT:
            # Formats 1 and 2 kept each key's whole request; 3 keeps its digest. Format 3's
            # state table is read until the first state file replaces it. The rest of the log
            # decodes the same way.
            db.execute("BEGIN")
            if found < 3:
                db.create_function("request_digest", 1, request_digest, deterministic=True)
                db.execute("DELETE FROM idempotency WHERE at < ?", (keys_since,))
                db.execute("UPDATE idempotency SET request = request_digest(request)")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('log_format', ?)", (LOG_FORMAT,))
            db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def request_digest(identity: bytes) -> bytes:
    """What an Idempotency-Key remembers of its request: a digest of the request's identity as
    JSON (cluster/common/wire.py `Request.identity`), the bytes formats 1 and 2 stored whole."""
    return hashlib.blake2b(identity, digest_size=16).digest()
