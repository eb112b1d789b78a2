"""Where things live over N shards (cluster/common/shards.py) and how a node splits a request
and merges answers (cluster/node/fanout.py). Pure: no actor."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from cluster.common import shards as S
from cluster.common import wire
from cluster.node.fanout import join_objects, merge_buckets, split


def test_shard_of_is_stable_and_even():
    # Pinned: a change here would put existing counters on another shard than holds them.
    assert [S.shard_of(k, 4) for k in ("a", "b", "page_views", "")] == [3, 2, 3, 2]
    assert [S.shard_of(k, 7) for k in ("a", "b", "page_views", "")] == [3, 2, 4, 6]
    assert all(S.shard_of(f"k{i}", 1) == 0 for i in range(100))
    spread = Counter(S.shard_of(f"label_{i}", 4) for i in range(40_000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 9_500


def test_growing_the_shards_moves_only_a_share_of_the_keys():
    keys = [f"k{i}" for i in range(20_000)]
    moved = sum(S.shard_of(k, 4) != S.shard_of(k, 5) for k in keys)
    assert 0.17 < moved / len(keys) < 0.23  # ~1/5, where a modulo would move ~4/5
    assert all(S.shard_of(k, 5) == 4 for k in keys if S.shard_of(k, 4) != S.shard_of(k, 5))


def test_a_counter_and_a_sample_series_of_one_label_set_share_a_shard():
    for name in ("x", "integer_average", "http_requests_total"):
        sample = wire.Sample(name, 1.0, 2.0)
        assert S.of_record(sample, 8) == S.shard_of(name, 8)
    assert S.of_record(wire.IntegerSample("g", 1, 5, 1.0), 8) == S.shard_of("integer_average", 8)
    assert S.of_record(wire.HostRow("h", 1.0, 2.0, 3.0, 4.0), 8) == S.HOME
    assert S.of_record(wire.Event("ann", "clicks", 1, 4.0), 8) == S.HOME


def test_split_keeps_every_label_and_record_once_with_the_key_on_each_part():
    labels = [f"l{i}" for i in range(50)]
    samples = [wire.Sample("s", 1.0, float(i), (("i", str(i)),)) for i in range(20)]
    request = wire.Request([wire.Increment(labels, 2), wire.Increment(["l0"], 5)], "k", samples)
    parts = split(request, 4)
    assert set(parts) == {0, 1, 2, 3}
    assert all(part.key == "k" for part in parts.values())
    got = Counter()
    for shard, part in parts.items():
        for increment in part.increments:
            assert all(S.shard_of(label, 4) == shard for label in increment.labels)
            got.update({label: increment.by for label in increment.labels})
        assert all(S.of_record(r, 4) == shard for r in part.records)
    assert got == Counter({**dict.fromkeys(labels, 2), "l0": 7})
    assert sorted(r.value for p in parts.values() for r in p.records) == [
        float(i) for i in range(20)
    ]
    assert split(wire.Request([]), 4) == {S.HOME: wire.Request([], None, [])}


def test_counters_joined_without_parsing_are_one_json_object():
    parts = [b'{"a":1,"b":2}', b"{}", b'{"c":3}', b" { } "]
    assert json.loads(join_objects(parts)) == {"a": 1, "b": 2, "c": 3}
    assert join_objects([b"{}", b"{}"]) == b"{}"


def test_rollup_buckets_of_one_name_merge_across_shards():
    one = [wire.Bucket(120, 2, 10.0, 4.0, 6.0), wire.Bucket(60, 1, 1.0, 1.0, 1.0)]
    two = [wire.Bucket(180, 1, 9.0, 9.0, 9.0), wire.Bucket(120, 3, 3.0, 0.5, 2.0)]
    assert merge_buckets([one, two]) == [
        wire.Bucket(180, 1, 9.0, 9.0, 9.0),
        wire.Bucket(120, 5, 13.0, 0.5, 6.0),
        wire.Bucket(60, 1, 1.0, 1.0, 1.0),
    ]


def test_a_data_dir_keeps_the_shard_count_it_was_made_with(tmp_path):
    fresh = tmp_path / "fresh"
    S.check_layout(fresh, 4)  # made now
    S.check_layout(fresh, 4)
    with pytest.raises(S.LayoutError, match="holds 4 shard.*shards = 2.*METRICS_SHARDS=4"):
        S.check_layout(fresh, 2)
    old = tmp_path / "old"  # a log from before shards: one shard
    old.mkdir()
    (old / "counters.sqlite3").write_bytes(b"")
    S.check_layout(old, 1)
    with pytest.raises(S.LayoutError, match="holds 1 shard"):
        S.check_layout(old, 4)
    (fresh / "shards.json").write_text("nonsense")
    with pytest.raises(S.LayoutError, match="not a shard layout"):
        S.check_layout(fresh, 4)
