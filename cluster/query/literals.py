"""PromQL's literals: numbers, quoted strings and durations, read as Prometheus reads them."""

from __future__ import annotations

import math

_INT64_MAX = 2**63 - 1
# Durations are Go time.Durations, int64 nanoseconds: about 292 years at most.
_MAX_DURATION_MS = _INT64_MAX // 1_000_000
_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000}
_UNITS_MS |= {"m": 60_000, "s": 1_000, "ms": 1}
_UNIT_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


class LiteralError(ValueError):
    """A literal the lexer took but whose value is invalid; the parser adds the position."""


def parse_number(text: str) -> float:
    """A number token: decimal, scientific, hex, Inf or NaN. Like Prometheus (Go's ParseInt with
    base 0 first), an integer with a leading 0 and only octal digits is octal: 017 is 15."""
    lowered = text.lower()
    if lowered in ("inf", "nan"):
        return math.inf if lowered == "inf" else math.nan
    if lowered.startswith("0x"):
        value = int(text[2:], 16)
        if value > _INT64_MAX:
            raise LiteralError(f"number {text} is out of range")
        return float(value)
    if len(text) > 1 and text.startswith("0") and text.isdigit() and set(text) <= set("01234567"):
        return float(int(text, 8))
    value = float(text)
    if math.isinf(value):
        raise LiteralError(f"number {text} is out of range")
    return value


def parse_duration(text: str) -> int:
    """Milliseconds of a duration like 1h30m: each unit at most once, largest first."""
    total = 0
    last = -1
    i = 0
    while i < len(text):
        start = i
        while i < len(text) and text[i].isdigit():
            i += 1
        unit = "ms" if text.startswith("ms", i) else text[i : i + 1]
        order = _UNIT_ORDER.index(unit)
        if start == i or order <= last:
            raise LiteralError(f"invalid duration {text!r}: units must go from y down to ms once")
        last = order
        total += int(text[start:i]) * _UNITS_MS[unit]
        if total > _MAX_DURATION_MS:
            raise LiteralError(f"duration {text} is out of range")
        i += len(unit)
    return total


def unquote(text: str) -> str:
    """The value of a quoted token: backquotes are raw, '' and "" take Go's escapes, each
    quote escaping only itself. Escapes may build bytes, which must form UTF-8."""
    quote, body = text[0], text[1:-1]
    if quote == "`":
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        i += 1
        if char != "\\":
            out += char.encode()
            continue
        char = body[i]
        i += 1
        if char in _ESCAPES:
            out += _ESCAPES[char].encode()
        elif char in (quote, "\\"):
            out += char.encode()
        elif char in _HEX_WIDTH:
            digits = body[i : i + _HEX_WIDTH[char]]
            i += len(digits)
            out += _hex_escape(char, digits)
        elif char in "01234567":
            digits = body[i - 1 : i + 2]
            i += 2
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise LiteralError(f"invalid octal escape \\{digits} in string")
            out.append(int(digits, 8))
        else:
            raise LiteralError(f"unknown escape sequence \\{char} in string")
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise LiteralError("string escapes do not form valid UTF-8") from None


def _hex_escape(kind: str, digits: str) -> bytes:
    if len(digits) != _HEX_WIDTH[kind] or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise LiteralError(f"invalid escape \\{kind}{digits} in string")
    value = int(digits, 16)
    if kind == "x":
        return bytes([value])
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise LiteralError(f"escape \\{kind}{digits} is not a valid code point")
    return chr(value).encode()
