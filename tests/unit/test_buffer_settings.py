"""The buffers' new bounds reach the actor's RecordLimits, 0 meaning never or for ever."""

from __future__ import annotations

from cluster.actor.actor import _record_limits
from cluster.actor.records import Records
from cluster.common.config import BufferSettings


def test_defaults_bound_every_buffer():
    limits = _record_limits(BufferSettings().record_limits())
    assert limits.series_idle_seconds == 30 * 86400
    assert limits.user_idle_seconds == 90 * 86400
    assert (limits.event_days_kept, limits.max_buckets_per_series) == (3650, 20_000)
    assert limits.integer_duplicates_kept == 1_000_000
    stats = Records(limits).stats()
    assert stats["series"]["idle_seconds"] == 30 * 86400
    assert stats["events"]["days_kept"] == 3650


def test_zero_means_never_expire_and_keep_for_ever():
    settings = BufferSettings(series_idle_seconds=0, user_idle_seconds=0, event_days_kept=0)
    limits = _record_limits(settings.record_limits())
    assert (limits.series_idle_seconds, limits.user_idle_seconds) == (None, None)
    assert limits.event_days_kept is None
