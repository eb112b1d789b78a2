"""Timestamps as the original systems wrote them: RFC 3339 in UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import ciso8601

from cluster.common.errors import InvalidInput

_LAST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def rfc3339(ts: float) -> str:
    """`2024-02-02T11:00:00Z`; with microseconds only when the time has a fraction."""
    moment = datetime.fromtimestamp(ts, UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_rfc3339(text: str, what: str = "timestamp", latest: float = _LAST) -> float:
    """Unix seconds of an RFC 3339 date-time that names its offset (`Z` or `+hh:mm`), from 1970
    up to `latest`. Strict (ciso8601): ISO 8601's other forms (`20240202T114302Z`, week dates,
    `+0100`) are refused."""
    try:
        moment = ciso8601.parse_rfc3339(text)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{what} {text!r} is not an RFC 3339 date-time with an offset, "
            "e.g. 2024-02-02T11:43:02.099Z"
        ) from None
    ts = moment.timestamp()
    if not 0 <= ts <= _LAST:  # outside, it could not be written back as a date
        raise InvalidInput(f"{what} {text!r} is not between 1970 and 9999")
    return not_after(ts, latest, what, text)


def not_after(ts: float, latest: float, what: str = "timestamp", text: str | None = None) -> float:
    """`ts` unless it is later than `latest` (e.g. now + max_future): then InvalidInput, naming
    the time as `text` or else as RFC 3339."""
    if ts > latest:
        shown = rfc3339(ts) if text is None else text
        raise InvalidInput(f"{what} {shown!r} is too far ahead: the latest is {rfc3339(latest)}")
    return ts


def parse_day(text: str, what: str = "day") -> date:
    """A `YYYY-MM-DD` calendar day."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a date of the form YYYY-MM-DD") from None


def day_of(ts: float) -> str:
    """The UTC calendar day of a Unix time, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
