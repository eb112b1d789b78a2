"""The typed wire: every message that crosses a process boundary, and its one codec.

Nodes and the actor exchange batches and their answers (over the direct path's socket or as a
Ray call: the same bytes either way), read requests (Ray calls), and the actor writes records
and answers into its durable log. All of them are msgspec structs declared here, so a field is
named once and checked when decoded, whichever way it travelled.

Records and increments are array-like structs: a sample travels and is logged as
`["s", name, ts, value]`, exactly the JSON lists that format 1 of the log held, so old logs
decode into the same structs. `LOG_FORMAT` names what the log holds; the actor refuses a log
written by a newer format rather than misreading it.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from array import array
from collections import Counter
from typing import Any, ClassVar, Literal

import msgspec

# 1: records and values as JSON lists, no version row. 2: the same encodings, versioned.
# 3: an Idempotency-Key keeps a digest of its request, not the request. 4: the record buffers'
# state in a file the log names (an older version would read a stale state table). 5: samples
# may carry labels.
LOG_FORMAT = 5
MAX_VALUE = 2**63 - 1  # the largest counter value (and increment) the cluster holds
# Rollup resolutions of a series and their bucket widths in seconds (SeriesRange.resolution).
RESOLUTIONS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}


Labels = tuple[tuple[str, str], ...]  # a series' label pairs besides its name, sorted


def series_key(name: str, labels: Labels) -> str:
    """One string per series: the name alone without labels (as before labels existed), else
    the name, NUL and the labels as JSON (no name holds a control character, and JSON escapes
    them in values, so no two series share a key)."""
    if not labels:
        return name
    return name + "\x00" + msgspec.json.encode(labels).decode()


class Sample(msgspec.Struct, tag="s", array_like=True, frozen=True):
    """A metric sample (the metrics-server's API); `ts` in Unix seconds. A sample logged before
    labels existed (`["s", name, ts, value]`) decodes with none."""

    name: str
    ts: float
    value: float
    labels: Labels = ()

    def identity(self) -> list[Any]:
        plain = ["s", self.name, self.ts, self.value]
        return [*plain, [list(pair) for pair in self.labels]] if self.labels else plain

    @property
    def key(self) -> str:
        return series_key(self.name, self.labels)


class HostRow(msgspec.Struct, tag="h", array_like=True, frozen=True):
    """A host's CPU, memory and disk usage in percent (metricSys)."""

    host: str
    cpu: float
    memory: float
    disk: float
    ts: float

    def identity(self) -> list[Any]:
        return ["h", self.host, self.cpu, self.memory, self.disk, self.ts]


class Event(msgspec.Struct, tag="e", array_like=True, frozen=True):
    """A user's event (the data-ingestion service); `ts` is stamped by the node."""

    username: str
    metric: str
    count: int
    ts: float

    def identity(self) -> list[Any]:
        # The stamp differs between a request and its retry: not part of what it asks.
        return ["e", self.username, self.metric, self.count]


class IntegerSample(msgspec.Struct, tag="i", array_like=True, frozen=True):
    """An integer for the windowed averages (loopstock); `generator` and `seq` identify a
    resend, `ts` is its event time (stamped by the node when the client gave none)."""

    generator: str | None
    seq: int | None
    value: int
    ts: float

    def identity(self) -> list[Any]:
        return ["i", self.generator, self.seq, self.value]


Record = Sample | HostRow | Event | IntegerSample


class Increment(msgspec.Struct, array_like=True, frozen=True):
    """Add `by` to every label listed (a label listed twice, twice)."""

    labels: list[str]
    by: int


def totals(increments: list[Increment]) -> Counter[str]:
    """Label -> total increment of one request. A label listed twice is incremented twice, as
    in the original counter."""
    # Counter(list) counts in C; a Python loop per label is what this avoids.
    by_increment: dict[int, list[str]] = {}
    for increment in increments:
        by_increment.setdefault(increment.by, []).extend(increment.labels)
    sums: Counter[str] = Counter()
    for by, labels in by_increment.items():
        counted = Counter(labels)
        if by != 1:
            for label in counted:
                counted[label] *= by
        sums.update(counted)  # a plain dict update while `sums` is empty
    return sums


class Request(msgspec.Struct, array_like=True, frozen=True):
    """One client request, applied whole or not at all. With a `key` (Idempotency-Key) a repeat
    gets the first answer."""

    increments: list[Increment]
    key: str | None = None
    records: list[Record] = []

    def identity(self) -> list[Any]:
        """What the request asks, as kept with its Idempotency-Key (format 1's form)."""
        return [[list(i.labels), i.by] for i in self.increments] + [
            r.identity() for r in self.records
        ]

    def size(self) -> int:
        return len(self.records) + sum(len(i.labels) for i in self.increments)


class BatchId(msgspec.Struct, array_like=True, frozen=True):
    """Unique per batch and the same on every retry of it: the node's incarnation (a new one
    per process) and a sequence number."""

    node: str
    seq: int


class Batch(msgspec.Struct, array_like=True, frozen=True):
    """What a node sends in one go: `merged`, the per-label totals of requests that need no
    answer of their own (all applied or all refused together), and `requests`, each applied
    or refused alone."""

    id: BatchId
    merged: dict[str, int]
    requests: list[Request] = []

    def size(self) -> int:
        """Labels and records it carries: what its cost grows with."""
        return len(self.merged) + sum(r.size() for r in self.requests)


# busy: nothing wrong with the request, but the actor cannot take it now (retry later).
RefusalReason = Literal["limit", "key_reused", "late", "busy"]


class Applied(msgspec.Struct, tag="applied", array_like=True, frozen=True):
    """Applied: every touched label's value right after it."""

    values: dict[str, int]


class Refused(msgspec.Struct, tag="refused", array_like=True, frozen=True):
    """Not applied, and nothing of it changed; `detail` says why, for a person."""

    reason: RefusalReason
    detail: str


Outcome = Applied | Refused


class BatchDone(msgspec.Struct, tag="done", array_like=True, frozen=True):
    """The batch is durable: the outcome of `merged`, and of each request in order."""

    merged: Outcome
    requests: list[Outcome]


class StoreFailed(msgspec.Struct, tag="failed", array_like=True, frozen=True):
    """The actor could not write its log: nothing of the batch was applied."""

    detail: str


BatchAnswer = BatchDone | StoreFailed


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """A batch on the direct path, numbered so that answers may come back in any order."""

    id: int
    batch: Batch


class Reply(msgspec.Struct, array_like=True, frozen=True):
    id: int
    answer: BatchAnswer


# Reads: Ray calls to the actor's `read`, dispatched on the type. `answer` documents what
# each returns (JSON-ready values, as the routes serve them).


class Read(msgspec.Struct, frozen=True):
    answer: ClassVar[str]


class AllCounters(Read, frozen=True):
    answer = "bytes: every counter as one JSON object"


class CounterValues(Read, frozen=True):
    answer = "dict[str, int]: those of the labels that exist"
    labels: list[str]


class SeriesNames(Read, frozen=True):
    answer = "list[str]: every series name, sorted"


class SeriesRange(Read, frozen=True):
    answer = "list[Bucket]: the buckets starting within [start, end], newest first"
    name: str
    resolution: str
    start: float
    end: float


class LatestHosts(Read, frozen=True):
    answer = "list[dict]: the newest host rows, newest first, in metricSys's shape"
    limit: int


class NewestHosts(Read, frozen=True):
    answer = "list[dict]: the newest row of each of the `limit` hosts that reported last"
    limit: int = 100


class ChangesSince(Read, frozen=True):
    """A read of one of the actor's change feeds (cluster/actor/changes.py) from a place."""

    epoch: str = ""  # "": a first read, which starts over
    seq: int = 0
    limit: int = 5_000


class CounterChanges(ChangesSince, frozen=True):
    answer = (
        "tuple[str, int, dict[str, int | None] | None]: the actor's epoch and newest change "
        "number, and the counters changed after `seq` of `epoch` with their values (None: "
        "deleted); None instead to start over (another epoch, changes no longer all kept, or "
        "more than `limit`)"
    )


class SamplesAdded(ChangesSince, frozen=True):
    answer = (
        "tuple[str, int, list[Sample] | None]: the actor's epoch and newest change number, and "
        "the samples of `names` added after `seq` of `epoch`, oldest first; None instead to "
        "start over (as CounterChanges)"
    )
    names: list[str] = []


class DistinctUsers(Read, frozen=True):
    answer = "dict: distinct users, events and total of a metric on a UTC day"
    metric: str
    day: str


class HourlyTotals(Read, frozen=True):
    answer = "bytes: last-hour statistics per metric (or user), a JSON array"
    per_user: bool = False


class FirstSeen(Read, frozen=True):
    answer = "dict: a user's first event"
    username: str


class IntegerAverages(Read, frozen=True):
    answer = "list[dict]: the newest closed windows' averages, newest first"
    limit: int = 10


class Scrape(Read, frozen=True):
    answer = (
        "tuple[bytes, list[tuple[str, Labels, float, float]]]: every counter as one JSON "
        "object and each sample series' newest raw point, from one state (the exposition)"
    )


class Span(msgspec.Struct, array_like=True, frozen=True):
    """One selector of a query and the times it reads, in milliseconds, both included.
    `matchers` are (label, op, value) with op one of = != =~ !~ (cluster/query/matchers.py)."""

    matchers: list[tuple[str, str, str]]
    start_ms: int
    end_ms: int


class Select(Read, frozen=True):
    answer = "bytes: list[SeriesData] encoded, every series a span selects, for one query"
    spans: list[Span]
    points: bool = True  # False: the series' labels only (those with a point in a span)
    max_series: int = 100_000
    max_points: int = 5_000_000


class LabelValues(Read, frozen=True):
    answer = (
        "bytes: list[str] encoded, the values of the label `name` (None: the label names) of "
        "every series with a point in [start_ms, end_ms], each once, in no order (encoded by "
        "the actor: a million names in ~20 ms, where Ray would pickle the list in ~170 ms)"
    )
    name: str | None
    start_ms: int
    end_ms: int


class SeriesData(msgspec.Struct, array_like=True, frozen=True):
    """A selected series: its labels (with `__name__`, sorted) and its points in the spans
    that selected it, times strictly increasing: two columns, int64 milliseconds and float64
    values, little-endian. Columns as bytes, not lists: a query of 1,000 series over an hour
    spent ~40 ms decoding lists of numbers and ~1 ms decoding bytes, which the node's engine
    reads as arrays where they lie."""

    labels: list[tuple[str, str]]
    times_ms: bytes
    values: bytes

    @classmethod
    def of(cls, labels: list[tuple[str, str]], times: array, values: array) -> SeriesData:
        """From columns of the array module ('q' and 'd')."""
        return cls(labels, _little(times), _little(values))

    def columns(self) -> tuple[array, array]:
        """The columns back, as arrays ('q' and 'd')."""
        times, values = array("q"), array("d")
        times.frombytes(self.times_ms)
        values.frombytes(self.values)
        if sys.byteorder == "big":
            times.byteswap()
            values.byteswap()
        return times, values


def _little(column: array) -> bytes:
    if sys.byteorder == "big":
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


class DeleteSeries(msgspec.Struct, frozen=True):
    """The admin's delete: every counter and sample series that one of `selectors` selects,
    each a list of matchers as in `Span`."""

    selectors: list[list[tuple[str, str, str]]]


class Bucket(msgspec.Struct, array_like=True, frozen=True):
    """A rollup bucket as read: its start (Unix seconds), count, sum, min and max."""

    start: int
    count: int
    total: float
    low: float
    high: float


# The codec. msgpack: smaller and faster to encode and decode than JSON for these shapes
# (docs/architecture.md has the measurement).
_encoder = msgspec.msgpack.Encoder()
_batch = msgspec.msgpack.Decoder(Batch)
_answer = msgspec.msgpack.Decoder(BatchAnswer)
_envelope = msgspec.msgpack.Decoder(Envelope)
_reply = msgspec.msgpack.Decoder(Reply)
_selected = msgspec.msgpack.Decoder(list[SeriesData])
_strings = msgspec.msgpack.Decoder(list[str])

encode = _encoder.encode
decode_batch = _batch.decode
decode_answer = _answer.decode
decode_envelope = _envelope.decode
decode_reply = _reply.decode
decode_selected = _selected.decode
decode_strings = _strings.decode
DecodeError = msgspec.DecodeError

# The log's encodings (JSON, as in format 1).
_json = msgspec.json.Encoder()
_records = msgspec.json.Decoder(list[Record])
_values = msgspec.json.Decoder(dict[str, int])
log_encode = _json.encode
log_records = _records.decode
log_values = _values.decode

# Frames on the direct path: a 4-byte big-endian length, then the encoded message.
FRAME_HEADER = struct.Struct("!I")


MAX_FRAME = 1 << 30  # a batch is bounded by max_batch_labels and the nodes' body limits


def frame(body: bytes) -> bytes:
    return FRAME_HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> bytes:
    (length,) = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
    if length > limit:
        raise ConnectionError(f"frame of {length} bytes exceeds {limit}")
    return await reader.readexactly(length)
