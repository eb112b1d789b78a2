"""The original distributed counter's scenario, with assertions.

+10 on a,b,c via the first node, +2 via the second, +8 via the third, +50 on w via the third;
then GET /metrics on every node and the queries `a,b,c`, `w,z`, `e,f`. Expected values are the
state read before the first step plus the increments, so it also passes on a cluster that already
holds data. Prints each request and response with a pass/fail mark, as the original printed them.
The nodes are those of the configuration (`Settings().nodes`: cluster.toml, METRICS_NODES, else
the default of cluster/common/config.py) unless --host or --ports say otherwise.
Exit codes: 0 all passed, 1 a mismatch or bad input, 3 the cluster did not answer.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import orjson
import typer
from pydantic import ValidationError

from cluster.common.config import NodeSpec, Settings

app = typer.Typer(add_completion=False)


class Scenario:
    def __init__(self, client: httpx.Client, urls: list[str]) -> None:
        self.client = client
        self.urls = urls
        self.failures = 0

    def check(self, shown: str, response: httpx.Response, status: int, body: Any) -> None:
        got = response.json() if response.content else None
        ok = response.status_code == status and (body is None or got == body)
        mark = "PASS" if ok else "FAIL"
        typer.echo(f"$ {shown}\n{response.status_code} {response.text}\n[{mark}]")
        if not ok:
            typer.echo(f"  expected {status} {orjson.dumps(body).decode() if body else ''}")
            self.failures += 1

    def post(self, url: str, labels: list[str], increment: int, expected: dict[str, int]) -> None:
        payload = orjson.dumps({"labels": labels, "increment": increment}).decode()
        shown = f"curl -X POST -H 'Content-Type: application/json' -d '{payload}' {url}/metrics"
        response = self.client.post(
            f"{url}/metrics", content=payload, headers={"Content-Type": "application/json"}
        )
        self.check(shown, response, 200, {label: expected[label] for label in labels})

    def get(self, url: str, path: str, status: int, body: Any) -> None:
        self.check(f"curl '{url}{path}'", self.client.get(f"{url}{path}"), status, body)

    def run(self) -> int:
        first, second, third = (self.urls * 3)[:3]
        before: dict[str, int] = self.client.get(f"{first}/metrics").raise_for_status().json()
        expected = dict(before)

        def add(labels: list[str], n: int) -> dict[str, int]:
            for label in labels:
                expected[label] = expected.get(label, 0) + n
            return expected

        self.post(first, ["a", "b", "c"], 10, add(["a", "b", "c"], 10))
        self.post(second, ["a", "b", "c"], 2, add(["a", "b", "c"], 2))
        self.post(third, ["a", "b", "c"], 8, add(["a", "b", "c"], 8))
        self.post(third, ["w"], 50, add(["w"], 50))
        for url in self.urls:
            self.get(url, "/metrics", 200, expected)

        def subset(labels: list[str]) -> dict[str, int]:
            return {label: expected[label] for label in labels if label in expected}

        self.get(first, "/metrics/query?expression=a,b,c", 200, subset(["a", "b", "c"]))
        self.get(second, "/metrics/query?expression=w,z", 200, subset(["w", "z"]))
        ef = subset(["e", "f"])
        self.get(third, "/metrics/query?expression=e,f", 200 if ef else 404, ef or None)
        total = 4 + len(self.urls) + 3
        if self.failures:
            typer.echo(f"scenario FAILED: {self.failures} of {total} checks did not match")
            return 1
        shards = len(self.client.get(f"{first}/health").json().get("shards", [None]))
        typer.echo(f"scenario OK: all {total} checks matched, on {shards} shard(s)")
        return 0


def _nodes(host: str | None, ports: str | None) -> list[NodeSpec]:
    """The configured nodes, or node-<port> for each of --ports; --host replaces their host."""
    if ports is None:
        try:
            nodes = Settings().nodes
        except ValueError as exc:  # pydantic's ValidationError included
            typer.echo(f"cannot read the configuration ({exc}); fix it or pass --ports", err=True)
            raise typer.Exit(1) from None
    else:
        try:
            numbers = [int(p) for p in ports.split(",") if p.strip()]
            nodes = [NodeSpec(name=f"node-{p}", port=p) for p in numbers]
        except (ValueError, ValidationError):
            typer.echo(f"--ports must be comma-separated port numbers, got {ports!r}", err=True)
            raise typer.Exit(1) from None
        if not nodes:
            typer.echo("--ports names no port", err=True)
            raise typer.Exit(1)
    if host is not None:
        nodes = [node.model_copy(update={"host": host}) for node in nodes]
    return nodes


@app.command()
def main(
    host: Annotated[
        str | None, typer.Option(help="where the nodes listen", show_default="as configured")
    ] = None,
    ports: Annotated[
        str | None,
        typer.Option(help="comma-separated node ports", show_default="as configured"),
    ] = None,
    probe: Annotated[bool, typer.Option(help="only check that every node answers")] = False,
    print_nodes: Annotated[
        bool, typer.Option(help="print the nodes as METRICS_NODES JSON, and exit")
    ] = False,
) -> None:
    """Run the original three-node scenario against a running cluster and check every answer."""
    nodes = _nodes(host, ports)
    if print_nodes:
        typer.echo(orjson.dumps([n.model_dump() for n in nodes]).decode())
        raise typer.Exit(0)
    urls = [n.url for n in nodes]
    with httpx.Client(timeout=15.0) as client:
        if probe:
            try:
                for url in urls:
                    client.get(f"{url}/health", timeout=2.0).raise_for_status()
            except httpx.HTTPError:
                raise typer.Exit(3) from None
            raise typer.Exit(0)
        try:
            code = Scenario(client, urls).run()
        except httpx.HTTPError as exc:
            typer.echo(f"the cluster did not answer: {exc}", err=True)
            raise typer.Exit(3) from None
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
