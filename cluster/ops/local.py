"""A throwaway cluster for tests and benchmarks: the supervisor's `start` (what `./run.sh start`
runs) on free ports with its own data dir, stopped by pid with its `stop`."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

BLOCK = 80  # Ray uses base .. base+69; nodes listen on base+75..


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block() -> int:
    for _ in range(200):
        base = random.randrange(30000, 60000 - BLOCK)
        if all(_free(p) for p in range(base, base + BLOCK)):
            return base
    raise RuntimeError("no free block of ports")


@dataclass
class LocalCluster:
    data_dir: Path
    nodes: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)
    base: int | None = None  # first of the ports to use (default: a free block)

    def __post_init__(self) -> None:
        base = self.base or free_port_block()
        self.ports = [base + 75 + i for i in range(self.nodes)]
        self.names = [f"node-{p}" for p in self.ports]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        nodes = [
            {"name": n, "host": "127.0.0.1", "port": p}
            for n, p in zip(self.names, self.ports, strict=True)
        ]
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("METRICS_", "RAY_"))}
        self.env = {
            **clean,
            "METRICS_DATA_DIR": str(self.data_dir),
            "METRICS_NODES": json.dumps(nodes),
            "METRICS_RAY__PORT": str(base),
            **self.extra_env,
        }

    def supervise(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """The supervisor's command line (`./run.sh <args>`) for this cluster."""
        return subprocess.run(
            [sys.executable, "-m", "cluster.ops.supervisor", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self) -> None:
        done = self.supervise("start")
        if done.returncode != 0:
            raise RuntimeError(f"start failed:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        self.supervise("stop")

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        state = json.loads((self.data_dir / "run" / "state.json").read_text())
        return {name: rec["pid"] for name, rec in state.items()}

    def get(self, node: int, path: str) -> httpx.Response:
        return httpx.get(f"{self.urls[node]}{path}", timeout=15)

    def post(self, node: int, labels: list[str], increment: int) -> httpx.Response:
        return httpx.post(
            f"{self.urls[node]}/metrics",
            json={"labels": labels, "increment": increment},
            timeout=15,
        )

    def counters(self) -> dict[str, int]:
        response = self.get(0, "/metrics")
        response.raise_for_status()
        return response.json()


def sessions_alive(pids: dict[str, int]) -> list[str]:
    """Processes still running in the sessions of the given leaders (none after a clean stop)."""
    alive = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if os.getsid(proc.pid) in pids.values():
                alive.append(f"{proc.pid} {proc.info['name']}")
        except (OSError, psutil.Error):
            continue
    return alive
