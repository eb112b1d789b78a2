"""Series selectors as the admin routes take them (`match[]`): a metric name, or
`{__name__="name"}`, or `{__name__=~"regex"}` (the regex matches the whole name, as in
Prometheus). The query language will take over parsing; until then this is all it accepts."""

from __future__ import annotations

import re

import orjson

from cluster.common.errors import InvalidInput
from cluster.common.wire import Selector

MAX_SELECTOR = 1024

# The selectors the OpenAPI document states: every one parses. The parser takes more (any JSON
# escape, any Python regular expression, other spaces); a regex's validity is no pattern's to
# state, so the document's regex form keeps to names, `|`, anchors and `.` (`.*`, `.+`, `.?`).
SELECTOR_PATTERN = (
    r"^([a-zA-Z_:][a-zA-Z0-9_:]*"
    r'|\{ *__name__ *= *"([^"\\\x00-\x1f]|\\["\\/bfnrt])*" *,? *\}'
    r'|\{ *__name__ *=~ *"([a-zA-Z0-9_:|^$]|\.[*+?]?)*" *,? *\})$'
)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# A double-quoted string with backslash escapes; JSON's escapes are Prometheus's common ones.
_BRACES = re.compile(r'\{\s*__name__\s*(=~|=)\s*("(?:[^"\\]|\\.)*")\s*,?\s*\}')


def parse_selector(text: str) -> Selector:
    """One `match[]` value, or InvalidInput saying which forms are accepted."""
    stripped = text.strip()
    if len(stripped) > MAX_SELECTOR:
        raise InvalidInput(f"match[] is {len(stripped)} characters; at most {MAX_SELECTOR}")
    if _NAME.fullmatch(stripped):
        return Selector(name=stripped)
    found = _BRACES.fullmatch(stripped)
    if found is None:
        raise InvalidInput(
            f"match[] {text[:200]!r} is not a selector this cluster understands: give a metric "
            'name, {__name__="name"} or {__name__=~"regex"}'
        )
    operator, quoted = found.groups()
    try:
        value = orjson.loads(quoted)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"match[] {text[:200]!r}: the quoted string is malformed") from None
    if operator == "=":
        return Selector(name=value)
    try:
        re.compile(value)
    except re.error as exc:
        raise InvalidInput(
            f"match[] {text[:200]!r}: not a valid regular expression: {exc}"
        ) from None
    return Selector(regex=value)
