"""Load from several client threads that retry each request with its Idempotency-Key until it
is acknowledged, so the acknowledged sums are exactly what the counters must show."""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity

from cluster.ops.local import LocalCluster


@dataclass
class Load:
    cluster: LocalCluster
    clients: int = 8
    requests: int = 150  # per client
    prefix: str = "fault"
    retry_for: float = 60.0  # seconds one request keeps retrying
    acked: Counter[str] = field(default_factory=Counter)
    done_requests: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._client, args=(c,), daemon=True)
            for c in range(self.clients)
        ]
        for t in self._threads:
            t.start()

    def join(self, timeout: float = 300) -> None:
        for t in self._threads:
            t.join(timeout)
        assert not any(t.is_alive() for t in self._threads), "load did not finish"
        assert not self.errors, self.errors[:5]

    def _client(self, c: int) -> None:
        rng = random.Random(c)
        with httpx.Client(timeout=30) as client:
            for i in range(self.requests):
                labels = [f"{self.prefix}_all", f"{self.prefix}_c{c}"]
                increment = rng.randint(1, 9)
                key = uuid.uuid4().hex
                urls = self.cluster.urls
                # Each attempt on the next node, every one with the same Idempotency-Key.
                start = (c + i) % len(urls)
                ring = itertools.cycle(urls[start:] + urls[:start])
                body = {"labels": labels, "increment": increment}
                try:
                    r = self._retrying()(self._post, client, ring, body, key)
                except tenacity.RetryError as exc:
                    with self._lock:
                        self.errors.append(f"gave up after {self.retry_for:g} s: {exc}")
                    return
                if r.status_code != 200:
                    with self._lock:
                        self.errors.append(f"{r.status_code} {r.text}")
                    return
                with self._lock:
                    for label in labels:
                        self.acked[label] += increment
                    self.done_requests += 1

    @staticmethod
    def _post(
        client: httpx.Client, ring: Iterator[str], body: dict[str, Any], key: str
    ) -> httpx.Response:
        return client.post(f"{next(ring)}/metrics", json=body, headers={"Idempotency-Key": key})

    def _retrying(self) -> tenacity.Retrying:
        """5xx answers and transport errors are retried, 50 ms doubling to 0.5 s, for
        `retry_for` s; a 500 is retried (the request may still be counted) but is an error."""
        return tenacity.Retrying(
            stop=tenacity.stop_after_delay(self.retry_for),
            wait=tenacity.wait_exponential(multiplier=0.05, min=0.05, max=0.5),
            retry=(
                tenacity.retry_if_exception_type(httpx.TransportError)
                | tenacity.retry_if_result(lambda r: r.status_code >= 500)
            ),
            before_sleep=self._retried,
        )

    def _retried(self, state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        r = None if state.outcome.failed else state.outcome.result()
        with self._lock:
            self.retries += 1
            if r is not None and r.status_code == 500:
                self.errors.append(f"500 {r.text}")
