"""Label matchers (`=`, `!=`, `=~`, `!~`); regexes are RE2, matched against the whole value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import re2


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class RegexError(ValueError):
    """A pattern RE2 refuses, or one longer than allowed."""


@dataclass(frozen=True)
class Matcher:
    """One condition on a label; an absent label has the value "" (Prometheus's rule)."""

    name: str
    op: MatchOp
    value: str
    regex: re2._Regexp | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: MatchOp, value: str, max_regex_length: int) -> Matcher:
        """A matcher with its regex compiled; RegexError if the pattern is not valid RE2."""
        if op not in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            return cls(name, op, value)
        if len(value) > max_regex_length:
            raise RegexError(f"regex is longer than {max_regex_length} characters")
        options = re2.Options()
        options.dot_nl = True  # Prometheus 3: `.` matches a newline too
        options.log_errors = False
        try:
            compiled = re2.compile(value, options=options)
        except re2.error as exc:
            raise RegexError(f"invalid regex {value!r}: {_reason(exc)}") from None
        return cls(name, op, value, compiled)

    def matches(self, value: str) -> bool:
        if self.op is MatchOp.EQUAL:
            return value == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return value != self.value
        assert self.regex is not None  # create() compiles every regex matcher
        found = self.regex.fullmatch(value) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether a series with these labels is selected by every matcher."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _reason(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
