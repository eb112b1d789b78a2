"""What a client sees when a record buffer is full."""

from __future__ import annotations

import json


def send(client, username: str):
    body = {"username": username, "metric": "clicks", "count": 1}
    return client.post(
        "/event", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def test_a_full_last_hour_answers_429_saying_when_room_frees_up(make_client):
    client = make_client(record_limits={"max_recent_events": 2})
    assert [send(client, "ann").status_code for _ in range(2)] == [200, 200]
    refused = send(client, "ann")
    assert refused.status_code == 429
    assert "the limit is 2 events; the room it needs frees up at" in refused.json()["detail"]
    assert client.get("/metrics").json() == {"clicks": 2}  # nothing of it applied


def test_too_many_users_answers_409_saying_when_idle_users_are_forgotten(make_client):
    client = make_client(settings={"buffers": {"max_users": 1, "user_idle_seconds": 3600}})
    assert send(client, "ann").status_code == 200
    refused = send(client, "bob")
    assert refused.status_code == 409
    assert "users idle for 3600 s are forgotten: at" in refused.json()["detail"]
    assert client.get("/metrics").json() == {"clicks": 1}  # nothing of it applied
    assert client.get("/v1/users/bob").status_code == 404
