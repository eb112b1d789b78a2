"""The record buffers' saved state: one JSON file beside the log, written in pieces.

The buffers can hold millions of items (a last hour of a million events is ~40 MB of JSON).
Encoding that in one call held the actor's event loop, and every batch, for 1.3-1.8 s
(measured). So the actor takes the buffers' `state()` on its loop (copies of their
containers, cheap), and a thread encodes it here in pieces of at most STEP items. Each piece is
one orjson call of about a millisecond; between two, Python hands the GIL back to the loop.

Which file holds the state in force is the log's business (log.py): a file is written whole
under a temporary name, renamed, and only then named by the log.

Arrays of int64 (a counter's history, history.py) are saved packed: their deltas (the first
from 0), zlib-compressed, base64, as `{"q": "<text>"}`; `unpack` reads either that or a plain
list. A full history (10,000 counters, an hour of 10 s ticks) is 67 MB as JSON lists and ~2 MB
packed, since its times are a tick apart and its values grow slowly (measured).

Pure: no Ray, no asyncio, no SQLite.
"""

from __future__ import annotations

import base64
import os
import zlib
from array import array
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import orjson

STEP = 5000  # items per orjson call: ~1 ms for the last hour's events (measured)
_ROW = 8  # a sequence this short, of scalars, is one item (an event, a sample, a bucket)
_SEQUENCES = (list, tuple, set, frozenset)


def pieces(value: Any) -> Iterator[bytes]:
    """The JSON of `value` in pieces, sets as arrays. Assumes what the buffers' states are
    made of: a sequence is homogeneous, so its first item tells whether it holds rows or
    containers; a mapping is flat when all its values are."""
    if isinstance(value, dict):
        if all(_row(item) for item in value.values()):
            yield from _slices(b"{", b"}", value.items(), dict)
            return
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + orjson.dumps(key) + b":"
            yield from pieces(item)
        yield b"}"
    elif isinstance(value, _SEQUENCES):
        if _row(next(iter(value), None)):
            yield from _slices(b"[", b"]", value, list)
            return
        yield b"["
        for i, item in enumerate(value):
            if i:
                yield b","
            yield from pieces(item)
        yield b"]"
    else:
        yield orjson.dumps(value, default=_packed)


def encode(value: Any) -> bytes:
    return b"".join(pieces(value))


def write(path: Path, value: Any) -> int:
    """Write `value` to `path` whole or not at all (a temporary file renamed over it), 0600,
    on disk before returning whatever the log's durability: the log will name it and drop the
    rows it holds, so a file lost to a power cut would leave a log that cannot start. Its size
    in bytes; OSError when it cannot."""
    temporary = path.with_name(path.name + ".tmp")
    size = 0
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for piece in pieces(value):
            out.write(piece)
            size += len(piece)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)  # the rename too
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size


def read(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _packed(value: Any) -> Any:
    """What orjson does not know: int64 arrays packed, other containers (sets) as lists.
    Deltas and their sums wrap around in int64 alike, so even a step wider than int64 comes
    back exact."""
    if isinstance(value, array) and value.typecode == "q":
        deltas = np.diff(np.frombuffer(value, dtype=np.int64), prepend=np.int64(0))
        return {"q": base64.b64encode(zlib.compress(deltas.tobytes(), 1)).decode()}
    return list(value)


def unpack(saved: Any) -> array:
    """An int64 array from what `_packed` wrote of it, or from a plain list."""
    if isinstance(saved, dict):
        deltas = np.frombuffer(zlib.decompress(base64.b64decode(saved["q"])), dtype=np.int64)
        return array("q", np.cumsum(deltas).tobytes())
    return array("q", saved)


def _row(item: Any) -> bool:
    if isinstance(item, dict):
        return False
    if isinstance(item, _SEQUENCES):
        return len(item) <= _ROW and all(_row(part) for part in item)
    return True


def _slices(opening: bytes, closing: bytes, items: Iterable[Any], make: type) -> Iterator[bytes]:
    yield opening
    iterator, separator = iter(items), b""
    while chunk := make(islice(iterator, STEP)):
        yield separator + orjson.dumps(chunk, default=_packed)[1:-1]
        separator = b","
    yield closing
