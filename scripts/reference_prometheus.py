"""A private Prometheus (Debian's package, the reference for cluster/query, read by the
differential tests and the query benchmark): a TSDB built by promtool from OpenMetrics text, a
server on a free loopback port, queries over HTTP."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tenacity

from scripts import debian

# One series: its labels (with __name__) and its points as (unix milliseconds, value).
SeriesData = tuple[Mapping[str, str], Sequence[tuple[int, float]]]


def require_prometheus() -> tuple[str, str]:
    """The paths of prometheus and promtool; installs Debian's `prometheus` package first when
    it is missing and we may (root, apt-get)."""
    why = "the differential test of cluster/query needs it"
    tool = debian.require("promtool", "prometheus", why)
    return debian.require("prometheus", "prometheus", why), tool


def openmetrics(series: Sequence[SeriesData]) -> str:
    """OpenMetrics text, each metric's series together (a family must not be split)."""
    lines = []
    for labels, points in sorted(series, key=lambda s: s[0]["__name__"]):
        name = labels["__name__"]
        pairs = ",".join(
            f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()) if k != "__name__"
        )
        head = f"{name}{{{pairs}}}" if pairs else name
        lines.extend(f"{head} {value!r} {t // 1000}.{t % 1000:03d}" for t, value in points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_prometheus(series: Sequence[SeriesData], workdir: Path) -> Iterator[str]:
    """The base URL of a Prometheus serving `series`; stopped by its pid on exit."""
    server, tool = require_prometheus()
    source, tsdb = workdir / "data.om", workdir / "tsdb"
    source.write_text(openmetrics(series))
    subprocess.run(
        [tool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        check=True,
        capture_output=True,
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n")  # scrapes nothing
    port = _free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            server,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=100y",  # the data is from 2023
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_delay(30),
            wait=tenacity.wait_fixed(0.1),
            retry=tenacity.retry_if_exception_type(OSError),  # not yet listening or ready
            reraise=True,
        ):
            with attempt:
                _ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ready(url: str, process: subprocess.Popen[bytes]) -> None:
    """Returns once ready; OSError while not (urllib's HTTPError, a 503 while starting, is one)."""
    if process.poll() is not None:
        raise RuntimeError(f"prometheus exited with {process.returncode}")
    with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
        pass


def query(url: str, path: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body of /api/v1/<path>, errors (4xx, 5xx) included."""
    body = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(f"{url}/api/v1/{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        with exc:
            return json.load(exc)


def _close(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    # 1e-9 absolute for results that are 0 on one side and rounding noise on the other.
    return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)


def difference(ours: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """What differs between two answers, or None when they agree."""
    if ours["status"] != theirs["status"]:
        return (
            f"ours {ours.get('error', 'succeeded')!r}, theirs {theirs.get('error', 'succeeded')!r}"
        )
    if ours["status"] == "error":
        same = ours["errorType"] == theirs["errorType"]
        return None if same else f"error types {ours['errorType']} and {theirs['errorType']}"
    mine, other = ours["data"], theirs["data"]
    if mine["resultType"] != other["resultType"]:
        return f"result types {mine['resultType']} and {other['resultType']}"
    kind = mine["resultType"]
    if kind == "string":
        return None if mine["result"] == other["result"] else "strings differ"
    if kind == "scalar":
        same = mine["result"][0] == other["result"][0] and _close(
            mine["result"][1], other["result"][1]
        )
        return None if same else f"scalars {mine['result']} and {other['result']}"
    key = "value" if kind == "vector" else "values"
    a = {frozenset(row["metric"].items()): row[key] for row in mine["result"]}
    b = {frozenset(row["metric"].items()): row[key] for row in other["result"]}
    if a.keys() != b.keys():
        only_ours = [dict(k) for k in a.keys() - b.keys()][:3]
        only_theirs = [dict(k) for k in b.keys() - a.keys()][:3]
        return f"series only in ours {only_ours}, only in theirs {only_theirs}"
    for labels, mine_points in a.items():
        points = [mine_points] if kind == "vector" else mine_points
        their_points = [b[labels]] if kind == "vector" else b[labels]
        if len(points) != len(their_points) or any(
            p[0] != q[0] or not _close(p[1], q[1])
            for p, q in zip(points, their_points, strict=True)
        ):
            return f"{dict(labels)}: ours {points[:4]}..., theirs {their_points[:4]}..."
    return None
