"""Load from several client threads that retry each request with its Idempotency-Key until it
is acknowledged, so the acknowledged sums are exactly what the counters must show."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

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
        pause = threading.Event()  # never set: its wait() is the retry backoff
        with httpx.Client(timeout=30) as client:
            for i in range(self.requests):
                labels = [f"{self.prefix}_all", f"{self.prefix}_c{c}"]
                increment = rng.randint(1, 9)
                key = uuid.uuid4().hex
                for attempt in range(10_000):
                    url = self.cluster.urls[(c + i + attempt) % len(self.cluster.urls)]
                    try:
                        r = client.post(
                            f"{url}/metrics",
                            json={"labels": labels, "increment": increment},
                            headers={"Idempotency-Key": key},
                        )
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code == 200:
                        break
                    if r is not None and r.status_code not in (503, 500, 502):
                        with self._lock:
                            self.errors.append(f"{r.status_code} {r.text}")
                        return
                    if r is not None and r.status_code == 500:
                        with self._lock:
                            self.errors.append(f"500 {r.text}")
                    with self._lock:
                        self.retries += 1
                    pause.wait(min(0.05 * 2**attempt, 0.5))
                else:
                    with self._lock:
                        self.errors.append("gave up")
                    return
                with self._lock:
                    for label in labels:
                        self.acked[label] += increment
                    self.done_requests += 1
