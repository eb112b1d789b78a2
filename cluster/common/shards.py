"""Which shard holds what, and the data dir's shard count (docs/sharding.md).

A counter lives on the shard of its label, a sample series on the shard of its label set
(`wire.series_key`: the name alone when it has no labels), so a counter and a sample series of
the same label set (which PromQL sees as one series, the sample's) always share a shard.
Integer averages are the series `integer_average` and go where a counter of that name would.
Host rows and events are read across hosts and users (newest rows, distinct users), so they
all live on the home shard, 0.

The shard of a key is Lamping and Veach's jump consistent hash of the first 8 bytes of its
BLAKE2b digest: stable across processes, machines and Python versions (unlike `hash()`), and
growing N to N+1 moves only ~1/(N+1) of the keys, should a reshard ever move data online.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cluster.common import wire

HOME = 0  # host rows, events, and everything of a single-shard cluster
_LAYOUT = "shards.json"
_JUMP = 2862933555777941757  # the jump hash's linear congruential multiplier
_WORD = (1 << 64) - 1


def shard_of(key: str, shards: int) -> int:
    """The shard, from 0 to `shards` - 1, of a counter label or a series key."""
    if shards == 1:
        return 0
    state = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    bucket, jump = -1, 0
    while jump < shards:
        bucket = jump
        state = (state * _JUMP + 1) & _WORD
        jump = int((bucket + 1) * ((1 << 31) / ((state >> 33) + 1)))
    return bucket


def of_record(record: wire.Record, shards: int) -> int:
    match record:
        case wire.Sample():
            return shard_of(record.key, shards)
        case wire.IntegerSample():
            return shard_of("integer_average", shards)
    return HOME


def actor_name(shard: int) -> str:
    """Shard 0 keeps the single actor's name, so a one-shard cluster is what it always was."""
    return "counter-store" if shard == 0 else f"counter-store-{shard}"


def db_name(shard: int) -> str:
    return "counters.sqlite3" if shard == 0 else f"counters-{shard}.sqlite3"


class LayoutError(ValueError):
    """The data dir holds another number of shards than configured."""


def check_layout(data_dir: Path, shards: int) -> None:
    """Refuse a shard count other than the one the data dir was made with: a counter would be
    looked for on another shard than the one holding it, and read as missing. A data dir
    without the layout file holds one shard if it holds a log, else it takes `shards` now."""
    layout = data_dir / _LAYOUT
    if layout.exists():
        try:
            held = int(json.loads(layout.read_text())["shards"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LayoutError(f"{layout} is not a shard layout ({exc}); restore it") from None
    elif (data_dir / db_name(0)).exists():
        held = 1
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = layout.with_suffix(".tmp")
        temporary.write_text(json.dumps({"shards": shards}) + "\n")
        temporary.replace(layout)
        return
    if held != shards:
        raise LayoutError(
            f"the data dir {data_dir} holds {held} shard(s) but shards = {shards}: set shards "
            f"= {held} (METRICS_SHARDS={held}), or start {shards} shard(s) on a new data dir "
            "(moving data between shard counts is not supported yet)"
        )
