"""What changed (cluster/actor/changes.py): what a node's live feed reads."""

from __future__ import annotations

from cluster.actor.changes import ChangeFeed


def test_what_was_noted_since_a_number_oldest_first():
    feed: ChangeFeed[str] = ChangeFeed()
    start = feed.seq
    feed.note(["a", "b"])
    middle = feed.seq
    feed.note(["b", "c"])
    feed.note([])  # nothing changed: no number taken
    assert feed.since(feed.epoch, start) == ["a", "b", "b", "c"]
    assert feed.since(feed.epoch, middle) == ["b", "c"]
    assert feed.since(feed.epoch, feed.seq) == []


def test_a_number_not_all_kept_or_of_another_epoch_starts_over():
    feed: ChangeFeed[str] = ChangeFeed(max_items=3)
    feed.note(["a", "b"])
    first = feed.seq
    feed.note(["c", "d"])  # 4 items held: the oldest note goes
    assert feed.since(feed.epoch, 0) is None
    assert feed.since(feed.epoch, first) == ["c", "d"]
    assert feed.since("another epoch", first) is None  # the actor restarted
    assert feed.since(feed.epoch, feed.seq + 1) is None  # a number never given
    assert ChangeFeed().epoch != feed.epoch
