"""Phoenix channels' wire protocol, serializer v2 (`vsn=2.0.0`, what phoenix.js speaks): every
frame a JSON array `[join_ref, ref, topic, event, payload]`, the refs strings or null. Pure: a
`Session` takes the frames one client sends and says what to answer and which topics it joins
or leaves; the socket route and the hub (hub.py) do the sending.

What a client gets, as a Phoenix server answers it:
- `phx_join` of a known topic: `phx_reply` `{"status":"ok","response":{...}}` (for
  `metric:lobby`, the original's welcome); of any other: `{"status":"error","response":
  {"reason":"unmatched topic"}}`; past MAX_TOPICS joined, an error saying so.
- `heartbeat` on the topic `phoenix`: `phx_reply` `{"status":"ok","response":{}}`.
- `phx_leave` of a joined topic: `phx_reply` ok, then `phx_close` of the topic.
- Any other event: `phx_reply` `{"status":"error","response":{"reason":...}}`, the socket kept.
- A frame that is not such an array: `FrameError`; the route closes the socket saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

VERSION = "2.0.0"
LOBBY = "metric:lobby"  # host rows, as the original broadcast them
COUNTERS = "counters:lobby"  # counter changes
SERIES = "series:"  # + a metric name: the samples added to its series
MAX_TOPICS = 100  # topics one socket may have joined at once
# Of a frame's refs, topic and event: replies echo them, so they bound what a reply holds.
MAX_REF, MAX_TOPIC, MAX_EVENT = 64, len(SERIES) + 1024, 64
WELCOME = {"welcome": "Welcome to the Metric Channel!"}  # the original's join reply


class FrameError(ValueError):
    """A frame that is not `[join_ref, ref, topic, event, payload]`."""


@dataclass(frozen=True)
class Frame:
    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any

    def encode(self) -> str:
        parts = [self.join_ref, self.ref, self.topic, self.event, self.payload]
        return orjson.dumps(parts).decode()


def decode(text: str) -> Frame:
    try:
        parts = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"a frame must be JSON: {exc}") from None
    if not isinstance(parts, list) or len(parts) != 5:
        raise FrameError("a frame must be a JSON array [join_ref, ref, topic, event, payload]")
    join_ref, ref, topic, event, payload = parts
    if not all(r is None or isinstance(r, str) for r in (join_ref, ref)):
        raise FrameError("join_ref and ref must be strings or null")
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError("topic and event must be strings")
    if any(r is not None and len(r) > MAX_REF for r in (join_ref, ref)):
        raise FrameError(f"a ref holds at most {MAX_REF} characters")
    if len(topic) > MAX_TOPIC or len(event) > MAX_EVENT:
        raise FrameError(f"a topic holds at most {MAX_TOPIC} characters, an event {MAX_EVENT}")
    return Frame(join_ref, ref, topic, event, payload)


def broadcast(topic: str, event: str, payload: Any) -> str:
    """A server push to every member of a topic: no refs, encoded once for all of them."""
    return Frame(None, None, topic, event, payload).encode()


@dataclass
class Session:
    """One socket's channels: the topics it joined (their join_ref), given `reply_to`, which
    says a topic's join reply (None: no such topic)."""

    reply_to: Callable[[str], Any]
    joined: dict[str, str | None] = field(default_factory=dict)

    def handle(self, frame: Frame) -> tuple[list[str], str | None, str | None]:
        """The frames to answer, and the topic this frame joins and the one it leaves."""
        topic, event = frame.topic, frame.event
        if topic == "phoenix" and event == "heartbeat":
            return [self._reply(frame, "ok", {})], None, None
        if event == "phx_join":
            reply = self.reply_to(topic)
            if reply is None:
                return [self._reply(frame, "error", {"reason": "unmatched topic"})], None, None
            if topic not in self.joined and len(self.joined) >= MAX_TOPICS:
                reason = f"a socket joins at most {MAX_TOPICS} topics; leave one first"
                return [self._reply(frame, "error", {"reason": reason})], None, None
            # Joined again (a new join_ref): as Phoenix, the old channel closes first.
            earlier = [_close(topic, self.joined[topic])] if topic in self.joined else []
            self.joined[topic] = frame.join_ref
            return [*earlier, self._reply(frame, "ok", reply)], topic, None
        if topic not in self.joined:
            return [self._reply(frame, "error", {"reason": "unmatched topic"})], None, None
        if frame.join_ref != self.joined[topic]:
            return [], None, None  # for a channel closed since: Phoenix drops it too
        if event == "phx_leave":
            close = _close(topic, self.joined.pop(topic))
            return [self._reply(frame, "ok", {}), close], None, topic
        reason = f"the channel {topic} takes no event {event[:100]!r}; it only pushes"
        return [self._reply(frame, "error", {"reason": reason})], None, None

    @staticmethod
    def _reply(frame: Frame, status: str, response: Any) -> str:
        payload = {"status": status, "response": response}
        return Frame(frame.join_ref, frame.ref, frame.topic, "phx_reply", payload).encode()


def _close(topic: str, join_ref: str | None) -> str:
    return Frame(join_ref, join_ref, topic, "phx_close", {}).encode()
