"""Locust load test of the original data-ingestion service: each user POSTs /event, twenty times
in twenty-one a random event `{"username": 8 random letters or digits, "count": 0..99999999,
"metric": 4 random letters or digits}` and once the fixed kodingbot event, waiting 0.5 to 1.5 s
between requests. A request fails unless it gets 200 with an empty body.

Locust is in the `dev` extra (`.venv/bin/pip install -e '.[dev]'`). A bounded headless run,
20 users started 5 a second, for 30 s:

    .venv/bin/locust -f scripts/locustfile.py --headless -u 20 -r 5 -t 30s \\
        --host http://127.0.0.1:4000

Locust drives one --host per run; to load every node, run one locust per node at the same time.
Its exit code is 1 when any request failed (`--exit-code-on-error 0` to change that).
"""

from __future__ import annotations

import random
import string
from typing import Any

from locust import HttpUser, between, task

ALPHABET = string.ascii_letters + string.digits


def random_event() -> dict[str, Any]:
    return {
        "username": "".join(random.choices(ALPHABET, k=8)),
        "count": random.randint(0, 99_999_999),
        "metric": "".join(random.choices(ALPHABET, k=4)),
    }


class EventUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def post_event(self, event: dict[str, Any], name: str) -> None:
        # json= sends Content-Type: application/json, exactly what /event requires
        with self.client.post("/event", json=event, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {response.text[:200]}")
            elif response.content:
                response.failure(f"expected an empty body, got {response.text[:200]!r}")
            else:
                response.success()

    @task(20)
    def post_random(self) -> None:
        self.post_event(random_event(), "/event random")

    @task(1)
    def post_kodingbot(self) -> None:
        self.post_event(
            {"username": "kodingbot", "count": 12412414, "metric": "kite_call"}, "/event kodingbot"
        )
