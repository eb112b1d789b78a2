"""`/socket/websocket` on one node (in-process actor): Phoenix's v2 frames spoken by a raw
client, the `metric:lobby` feed, and every bad frame a close with its reason, never a crash."""

from __future__ import annotations

import contextlib
import threading
import time

import orjson
import pytest
from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.timeout(60)  # a receive has no timeout: a missing frame fails here
URL = "/socket/websocket?vsn=2.0.0"
FAST = {"live": {"interval": 0.05, "idle_timeout": 5}}  # a frame missing fails in 5 s
ROW = {
    "id": "h1",
    "cpu_usage": 12.5,
    "memory_usage": 40.0,
    "disk_usage": 70.25,
    "timestamp": "2026-01-01T00:00:00Z",
}


def _send(ws, join_ref, ref, topic, event, payload=None):
    ws.send_text(orjson.dumps([join_ref, ref, topic, event, payload or {}]).decode())


def _next(ws, event, within=200):
    """The next frame of `event` among the next `within` frames (the feed ticks every 50 ms)."""
    for _ in range(within):
        frame = orjson.loads(ws.receive_text())
        if frame[3] == event:
            return frame
    raise AssertionError(f"no {event} in {within} frames")


def test_a_join_of_the_lobby_gets_the_welcome_then_metrics_data(make_client):
    client = make_client(FAST)
    assert client.post("/v1/hosts/metrics", json=ROW).status_code == 201
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "metric:lobby", "phx_join")
        assert orjson.loads(ws.receive_text()) == [
            "1",
            "1",
            "metric:lobby",
            "phx_reply",
            {"status": "ok", "response": {"welcome": "Welcome to the Metric Channel!"}},
        ]
        frame = _next(ws, "metrics_data")
        # as the original broadcast it: no refs, the rows of GET /v1/hosts/metrics
        assert frame[:3] == [None, None, "metric:lobby"]
        assert frame[4] == {"metrics": [ROW]}
        assert client.get("/health").json()["live"]["topics"] == {"metric:lobby": 1}


def test_the_feed_sends_each_hosts_newest_row(make_client):
    client = make_client(FAST)
    older = {**ROW, "timestamp": "2025-12-31T23:59:59Z", "cpu_usage": 99.0}
    other = {**ROW, "id": "h2", "timestamp": "2025-12-31T00:00:00Z"}
    assert client.post("/v1/hosts/metrics", json=[ROW, older, other]).status_code == 201
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "metric:lobby", "phx_join")
        assert _next(ws, "metrics_data")[4] == {"metrics": [ROW, other]}  # newest first


def test_heartbeat_leave_and_the_errors_phoenix_answers(make_client):
    client = make_client(FAST)
    with client.websocket_connect(URL) as ws:
        _send(ws, None, "2", "phoenix", "heartbeat")
        assert _next(ws, "phx_reply") == [
            None,
            "2",
            "phoenix",
            "phx_reply",
            {"status": "ok", "response": {}},
        ]
        _send(ws, "3", "3", "room:other", "phx_join")
        reply = _next(ws, "phx_reply")
        assert reply[4] == {"status": "error", "response": {"reason": "unmatched topic"}}
        _send(ws, "4", "4", "metric:lobby", "phx_join")
        assert _next(ws, "phx_reply")[4]["status"] == "ok"
        _send(ws, "4", "5", "metric:lobby", "shout", {"body": "hi"})  # the channel only pushes
        reply = _next(ws, "phx_reply")
        assert reply[:2] == ["4", "5"] and reply[4]["status"] == "error"
        _send(ws, "4", "6", "metric:lobby", "phx_leave")
        assert _next(ws, "phx_reply")[:2] == ["4", "6"]
        assert _next(ws, "phx_close")[:3] == ["4", "4", "metric:lobby"]
        deadline = time.monotonic() + 5
        while client.get("/health").json()["live"]["topics"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.get("/health").json()["live"]["topics"] == {}  # the feed stopped
        _send(ws, None, "7", "phoenix", "heartbeat")  # the socket itself serves on
        assert _next(ws, "phx_reply")[1] == "7"


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("not json", 1007, "a frame must be JSON"),
        ('{"topic": "phoenix"}', 1007, "a frame must be a JSON array"),
        ('["1", "1", "metric:lobby", "phx_join"]', 1007, "a frame must be a JSON array"),
        ('[1, "1", "metric:lobby", "phx_join", {}]', 1007, "strings or null"),
        ('["1", "1", null, "phx_join", {}]', 1007, "topic and event must be strings"),
        (b"\x00binary", 1003, "binary frames are not supported"),
    ],
)
def test_a_bad_frame_closes_the_socket_saying_why(make_client, frame, code, reason):
    client = make_client(FAST)
    with client.websocket_connect(URL) as ws:
        ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            _next(ws, "never")
        assert (closed.value.code, reason in closed.value.reason) == (code, True)
    assert client.get("/health").json()["live"]["clients"] == 0  # and the node serves on


def test_another_serializer_and_a_full_node_are_refused(make_client):
    client = make_client({"live": {"interval": 0.05, "max_clients": 1}})
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/socket/websocket?vsn=1.0.0"):
            pass
    assert refused.value.code == 1008 and "use 2.0.0" in refused.value.reason
    with client.websocket_connect(URL) as first:
        _send(first, None, "1", "phoenix", "heartbeat")
        assert _next(first, "phx_reply")[1] == "1"
        with pytest.raises(WebSocketDisconnect) as full:
            with client.websocket_connect(URL):
                pass
        assert full.value.code == 1013 and "try another node" in full.value.reason


def test_one_address_is_refused_past_its_own_cap(make_client):
    client = make_client({"live": {"interval": 0.05, "max_clients_per_address": 1}})
    with client.websocket_connect(URL) as first:
        with pytest.raises(WebSocketDisconnect) as full:
            with client.websocket_connect(URL):
                pass
        assert full.value.code == 1013 and "this address" in full.value.reason
        _send(first, None, "1", "phoenix", "heartbeat")  # the first socket serves on
        assert _next(first, "phx_reply")[1] == "1"
    assert client.get("/health").json()["live"]["addresses"] == 0


def test_a_silent_socket_is_closed_after_the_idle_timeout(make_client):
    client = make_client({"live": {"idle_timeout": 0.2}})
    with client.websocket_connect(URL) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            _next(ws, "never")
        assert closed.value.code == 1000 and "heartbeats" in closed.value.reason


@contextlib.contextmanager
def _posting(post_once):
    """`post_once()` every 20 ms in a thread until the block ends: a feed learns where the
    changes are at its first tick, which a test cannot see, so it posts until a push shows (or
    the socket's idle timeout ends the wait)."""
    stop = threading.Event()

    def post() -> None:
        while not stop.is_set():
            post_once()
            stop.wait(0.02)

    thread = threading.Thread(target=post)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _increment(client, labels):
    assert client.post("/metrics", json={"labels": labels, "increment": 1}).status_code == 200


def test_counter_changes_are_pushed_and_deletes_as_null(make_client):
    token = "s3cret-admin-token-0123"
    settings = {"admin_token": token, "live": {"counters_interval": 0.05, "idle_timeout": 5}}
    client = make_client(settings)
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "counters:lobby", "phx_join")
        assert _next(ws, "phx_reply")[4] == {"status": "ok", "response": {}}
        with _posting(lambda: _increment(client, ["a"])):
            frame = _next(ws, "counters_changed")
        assert frame[:3] == [None, None, "counters:lobby"] and set(frame[4]["counters"]) == {"a"}
        value = client.get("/metrics/query", params={"expression": "a"}).json()["a"]
        pushed = frame[4]["counters"]["a"]
        while pushed != value:  # the newest value comes, however the ticks fell
            pushed = _next(ws, "counters_changed")[4]["counters"]["a"]
        auth = {"Authorization": f"Bearer {token}"}
        deleted = client.post("/api/v1/admin/tsdb/delete_series?match[]=a", headers=auth)
        assert deleted.status_code == 204, deleted.text
        assert _next(ws, "counters_changed")[4]["counters"] == {"a": None}


def test_more_changes_than_a_push_holds_tell_clients_to_read_again(make_client):
    live = {"counters_interval": 0.05, "max_changes": 2, "idle_timeout": 5}
    client = make_client({"live": live})
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "counters:lobby", "phx_join")
        _next(ws, "phx_reply")
        with _posting(lambda: _increment(client, ["x", "y", "z"])):
            assert _next(ws, "counters_reset")[2:] == ["counters:lobby", "counters_reset", {}]


def _sample(client, name, value, labels=None):
    body = {"timestamp": "2026-01-01T00:00:00Z", "name": name, "value": value}
    assert client.post("/v1/metrics", json={**body, "labels": labels or {}}).status_code == 201


def test_a_series_topic_pushes_the_samples_added_to_that_name(make_client):
    client = make_client({"live": {"counters_interval": 0.05, "idle_timeout": 5}})
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "series:cpu", "phx_join")
        assert _next(ws, "phx_reply")[4] == {"status": "ok", "response": {}}

        def post() -> None:
            _sample(client, "other", 1.0)
            _sample(client, "cpu", 42.5, {"job": "api"})

        with _posting(post):
            frame = _next(ws, "samples")
        assert frame[:3] == [None, None, "series:cpu"]
        wanted = {"labels": {"job": "api"}, "timestamp": "2026-01-01T00:00:00Z", "value": 42.5}
        assert frame[4]["samples"] and all(s == wanted for s in frame[4]["samples"])  # not other's


def test_series_topics_are_named_and_bounded(make_client):
    client = make_client({"live": {"max_frames_per_second": 1000}})
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "series:", "phx_join")  # no name
        assert _next(ws, "phx_reply")[4]["response"] == {"reason": "unmatched topic"}
        for i in range(100):
            _send(ws, str(i), str(i), f"series:m{i}", "phx_join")
            assert _next(ws, "phx_reply")[4]["status"] == "ok"
        _send(ws, "x", "x", "series:one-too-many", "phx_join")
        assert "at most 100 topics" in _next(ws, "phx_reply")[4]["response"]["reason"]


def test_a_second_join_closes_the_first_and_stale_frames_are_dropped(make_client):
    client = make_client(FAST)
    with client.websocket_connect(URL) as ws:
        _send(ws, "1", "1", "metric:lobby", "phx_join")
        assert _next(ws, "phx_reply")[4]["status"] == "ok"
        _send(ws, "2", "2", "metric:lobby", "phx_join")  # phoenix.js rejoining
        assert _next(ws, "phx_close")[:3] == ["1", "1", "metric:lobby"]
        assert _next(ws, "phx_reply")[:2] == ["2", "2"]
        _send(ws, "1", "3", "metric:lobby", "phx_leave")  # the closed channel's: dropped
        _send(ws, None, "4", "phoenix", "heartbeat")
        assert _next(ws, "phx_reply")[1] == "4"  # no reply to 3 came before it
        assert client.get("/health").json()["live"]["topics"] == {"metric:lobby": 1}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (["x" * 65, "1", "phoenix", "heartbeat", {}], "a ref holds at most 64"),
        (["1", "1", "t" * 2000, "phx_join", {}], "a topic holds at most"),
    ],
)
def test_long_refs_and_topics_are_refused(make_client, frame, reason):
    client = make_client(FAST)
    with client.websocket_connect(URL) as ws:
        ws.send_text(orjson.dumps(frame).decode())
        with pytest.raises(WebSocketDisconnect) as closed:
            _next(ws, "never")
        assert closed.value.code == 1007 and reason in closed.value.reason


def test_a_socket_sending_frames_in_a_flood_is_closed(make_client):
    client = make_client({"live": {"max_frames_per_second": 5}})
    with client.websocket_connect(URL) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            for ref in range(100):  # a burst of 10 passes, then the bucket is dry
                _send(ws, None, str(ref), "phoenix", "heartbeat")
                _next(ws, "phx_reply")
        assert closed.value.code == 1008 and "frames a second" in closed.value.reason


def test_a_client_marked_too_slow_is_closed_and_its_slot_freed(make_client):
    client = make_client(FAST)
    hub = client.app.state.hub
    with client.websocket_connect(URL) as ws:
        _send(ws, None, "1", "phoenix", "heartbeat")
        _next(ws, "phx_reply")
        (held,) = hub._clients  # as Client.offer marks it when its queue is full
        held.too_slow.set()
        with pytest.raises(WebSocketDisconnect) as closed:
            _next(ws, "never")
        assert closed.value.code == 1008 and "too slow" in closed.value.reason
    assert client.get("/health").json()["live"]["clients"] == 0
