"""HTTP load with wrk (Debian package `wrk`), for the benchmarks: POST one JSON body to several
nodes at once, one wrk process per node, and add their results up."""

from __future__ import annotations

import json
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scripts import debian

# wrk's done() hook prints one JSON line we parse: requests, errors, latency percentiles (us).
_POST = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
"""
_DONE = """
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "non2xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration / 1e6, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int


def require_wrk() -> str:
    """wrk's path; installs Debian's package first when it is missing and we may."""
    try:
        return debian.require("wrk", "wrk", "the load generator of the benchmarks")
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def post(urls: list[str], body: str, seconds: int, connections: int) -> LoadResult:
    """POST `body` to every url (with its path) for `seconds`, `connections` in all."""
    return _run(urls, _POST % json.dumps(body) + _DONE, seconds, connections)


def get(urls: list[str], seconds: int, connections: int) -> LoadResult:
    """GET every url for `seconds`, `connections` in all."""
    return _run(urls, _DONE, seconds, connections)


def _run(urls: list[str], lua: str, seconds: int, connections: int) -> LoadResult:
    wrk = require_wrk()
    per_url = max(1, connections // len(urls))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "load.lua"
        script.write_text(lua)

        def one(url: str) -> dict[str, float]:
            done = subprocess.run(
                [
                    wrk,
                    "-t1",
                    f"-c{per_url}",
                    f"-d{seconds}s",
                    "--timeout",
                    "60s",
                    "-s",
                    str(script),
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
            lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
            if done.returncode or not lines:
                raise RuntimeError(f"wrk failed on {url}: {done.stderr or done.stdout}")
            line = lines[0]
            return json.loads(line.removeprefix("RESULT "))

        with ThreadPoolExecutor(len(urls)) as pool:
            parts = list(pool.map(one, urls))
    return LoadResult(
        rps=sum(p["requests"] / p["seconds"] for p in parts),
        # a node's percentiles do not add up; the worst node's is the honest figure
        p50_ms=max(p["p50_us"] for p in parts) / 1000,
        p99_ms=max(p["p99_us"] for p in parts) / 1000,
        non2xx=int(sum(p["non2xx"] for p in parts)),
        socket_errors=int(sum(p["socket_errors"] for p in parts)),
    )
