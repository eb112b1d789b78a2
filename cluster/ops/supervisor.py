"""run.sh's engine: start the Ray head and the nodes, keep them running, stop exactly them.

Commands: run (the default: foreground, Ctrl-C or SIGTERM stops everything, nodes draining
first), start (background, returns once every node answers GET /health), stop (what start or
run started, by pid), status (what runs, and whether each node answers).

Exit codes: 0 done, 1 bad configuration, 2 bad usage, 3 something could not start or is down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import tenacity
import typer
from pydantic import ValidationError

from cluster.common.config import Settings
from cluster.common.shards import LayoutError, check_layout
from cluster.ops import processes as P

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)
HEAD = "ray-head"
SUPERVISOR = "supervisor"
AGENT = "host-agent"
_STABLE_AFTER = 60.0  # a process that ran this long before dying restarts with the first backoff


def say(message: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {message}")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    # Its exits in a row (each after less than _STABLE_AFTER s), as the backoff counts them.
    crashes: tenacity.RetryCallState | None = None
    restart_at: float | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = P.spawn(self.argv, self.env, self.log)
        self.started = time.monotonic()
        self.restart_at = None

    def record(self) -> P.Recorded | None:
        return P.Recorded.of(self.proc.pid) if self.proc and self.proc.poll() is None else None


_JOIN_TIMEOUT = 30.0  # seconds a probe driver has to join the head


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        run_dir = settings.run_dir
        self.state = P.StateFile(run_dir)
        self.stopping = threading.Event()
        # The restart backoff: restart_backoff after a first exit, doubling with each exit in a
        # row up to restart_backoff_max. Not a retry loop (one loop watches every process): the
        # policy only, each child's exits in a row being the attempts of its own retry state.
        self.restarting = tenacity.Retrying(
            wait=tenacity.wait_exponential(
                multiplier=settings.restart_backoff,
                min=settings.restart_backoff,
                max=settings.restart_backoff_max,
            )
        )
        env = P.ray_env(settings)
        self.head = Child(HEAD, P.head_command(settings), env, run_dir / "ray-head.log")
        data_dir = str(settings.data_dir.resolve())
        self.nodes = [
            Child(
                n.name,
                P.node_command(),
                {**env, "METRICS_NODE_NAME": n.name, "METRICS_DATA_DIR": data_dir},
                run_dir / f"{n.name}.log",
            )
            for n in settings.nodes
        ]
        # Restarted like the nodes, stopped before them (its last flush still finds them).
        self.agents = []
        if settings.agent.enabled:
            log = run_dir / "host-agent.log"
            self.agents.append(Child(AGENT, P.agent_command(settings), {}, log))

    def save(self) -> None:
        procs = {SUPERVISOR: P.Recorded.of(os.getpid())}
        for child in (self.head, *self.nodes, *self.agents):
            rec = child.record()
            if rec:
                procs[child.name] = rec
        self.state.write(procs)

    def run(self) -> None:
        link = self.settings.run_dir / "ray"  # where Ray's own logs are, for a person
        if not link.is_symlink():
            link.symlink_to(P.ray_temp_dir(self.settings.run_dir))
        try:
            self.start_head()
            for child in (*self.nodes, *self.agents):
                child.start()
            self.save()
            say(f"nodes starting: {', '.join(n.url for n in self.settings.nodes)}")
            while not self.stopping.wait(0.5):
                self.watch()
        finally:
            self.shutdown()

    def start_head(self) -> None:
        """Start the head and return once a driver can join it; a head that listens but takes
        no driver is stopped and started again, with the restart backoff."""
        deadline = time.monotonic() + self.settings.start_timeout
        delay = self.settings.restart_backoff
        while True:
            self.head.start()
            self.save()
            while not P.port_in_use(self.settings.ray.host, self.settings.ray.port):
                if self.head.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Ray head did not start:\n{P.tail(self.head.log)}")
                if self.stopping.wait(0.1):
                    return
            left = deadline - time.monotonic()
            why = P.join_probe(self.settings, self.head.env, min(_JOIN_TIMEOUT, max(left, 1.0)))
            if why is None:
                break
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"Ray head cannot be joined ({why}):\n{P.tail(self.head.log)}")
            say(f"Ray head listens but {why}; restarting it in {delay:g} s")
            self._stop_child(self.head)
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, self.settings.restart_backoff_max)
        say(f"Ray head up at {self.settings.ray.address} (pid {self.head.proc.pid})")

    def watch(self) -> None:
        """Restart whatever exited, with backoff; a new head means new nodes too."""
        if self.head.proc.poll() is not None:
            code = self.head.proc.returncode
            say(f"Ray head exited with code {code}; restarting it and the nodes")
            for node in self.nodes:
                self._stop_child(node)
            self.start_head()
            for node in self.nodes:
                node.start()
            self.save()
            return
        now = time.monotonic()
        for node in (*self.nodes, *self.agents):
            if node.restart_at is not None:
                if now >= node.restart_at:
                    node.restarts += 1
                    node.start()
                    self.save()
                    say(f"{node.name} restarted (restart #{node.restarts}, pid {node.proc.pid})")
            elif node.proc.poll() is not None:
                ran = now - node.started
                if node.crashes is None or ran > _STABLE_AFTER:  # a first exit in a row
                    node.crashes = tenacity.RetryCallState(self.restarting, None, (), {})
                else:
                    node.crashes.prepare_for_next_attempt()
                delay = self.restarting.wait(node.crashes)
                node.restart_at = now + delay
                say(
                    f"{node.name} exited with code {node.proc.returncode} after {ran:.1f} s; "
                    f"restarting in {delay:g} s (log: {node.log})"
                )

    def _stop_child(self, child: Child) -> None:
        rec = child.record()
        if rec:
            P.stop_session(rec, self.settings.shutdown_grace + 5)

    def shutdown(self) -> None:
        for agent in self.agents:
            self._stop_child(agent)
        say("stopping nodes (draining in-flight requests)")
        threads = [threading.Thread(target=self._stop_child, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        say("stopping Ray head")
        self._stop_child(self.head)
        # Ray's session files (sockets, its own logs) are of no use once it stopped; ours stay.
        shutil.rmtree(P.ray_temp_dir(self.settings.run_dir), ignore_errors=True)
        (self.settings.run_dir / "ray").unlink(missing_ok=True)
        self.state.remove()
        say("stopped")


def _load() -> Settings:
    try:
        settings = Settings()
    except (ValidationError, ValueError) as exc:
        typer.echo(f"bad configuration: {exc}", err=True)
        raise typer.Exit(1) from None
    # Counters, stored answers, logs and the Ray token: for this user only. Every process we
    # start (the head, the actor, the nodes) inherits the mask.
    os.umask(0o077)
    try:
        P.private_dir(settings.data_dir.resolve())
        P.private_dir(settings.run_dir)
        P.private_dir(P.ray_temp_dir(settings.run_dir).parent)
    except RuntimeError as exc:
        typer.echo(f"cannot start: {exc}", err=True)
        raise typer.Exit(1) from None
    return settings


def _check_layout(settings: Settings) -> None:
    try:
        check_layout(settings.data_dir.resolve(), settings.shards)
    except LayoutError as exc:
        typer.echo(f"bad configuration: {exc}", err=True)
        raise typer.Exit(1) from None


def _running(settings: Settings) -> dict[str, P.Recorded]:
    return {n: r for n, r in P.StateFile(settings.run_dir).read().items() if r.alive()}


def _stop_recorded(settings: Settings, procs: dict[str, P.Recorded]) -> None:
    """Stop the supervisor (it stops its children in order), then anything it left behind."""
    sup = procs.pop(SUPERVISOR, None)
    if sup:
        P.stop_session(sup, settings.shutdown_grace * 2 + 30)
    for name, rec in procs.items():
        if rec.alive():
            typer.echo(f"stopping left-over {name} (pid {rec.pid})")
            P.stop_session(rec, settings.shutdown_grace + 5)
    P.StateFile(settings.run_dir).remove()


def _prepare(settings: Settings) -> None:
    """Refuse to start twice or on a data dir of another shard count; clean up after a
    supervisor that was killed; check the ports."""
    _check_layout(settings)
    procs = _running(settings)
    if SUPERVISOR in procs:
        typer.echo(
            f"already running (supervisor pid {procs[SUPERVISOR].pid}); "
            "see ./run.sh status, or ./run.sh stop"
        )
        raise typer.Exit(0)
    if procs:
        typer.echo("cleaning up processes left by an earlier run")
        _stop_recorded(settings, procs)
    busy = P.busy_ports(settings)
    if busy:
        typer.echo(f"cannot start, ports already in use: {', '.join(busy)}", err=True)
        raise typer.Exit(3)


@app.command()
def run() -> None:
    """Start the Ray head and every node in the foreground; Ctrl-C stops them all."""
    settings = _load()
    _prepare(settings)
    supervisor = Supervisor(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    try:
        supervisor.run()
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None


def _unhealthy(settings: Settings) -> list[str]:
    bad = []
    for node in settings.nodes:
        try:
            httpx.get(f"{node.url}/health", timeout=1.0).raise_for_status()
        except httpx.HTTPError as exc:
            bad.append(f"{node.name} ({node.url}): {type(exc).__name__}")
    return bad


def _disagreeing(settings: Settings) -> list[str]:
    """Nodes whose /cluster does not yet see every peer up (all of them answer /health)."""
    bad = []
    for node in settings.nodes:
        try:
            peers = httpx.get(f"{node.url}/cluster", timeout=5.0).json()["peers"]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            bad.append(f"{node.name}: {type(exc).__name__}")
            continue
        if any(p["status"] != "up" for p in peers):
            bad.append(
                f"{node.name} sees {', '.join(p['name'] + ' ' + p['status'] for p in peers)}"
            )
    return bad


@app.command()
def start() -> None:
    """Start in the background; return once every node answers GET /health and sees every
    peer up in GET /cluster."""
    settings = _load()
    _prepare(settings)
    log = settings.run_dir / "supervisor.log"
    sup = P.spawn([sys.executable, "-m", "cluster.ops.supervisor", "run"], {}, log)
    typer.echo(f"starting (supervisor pid {sup.pid}, logs in {settings.run_dir})")
    deadline = time.monotonic() + settings.start_timeout
    while True:
        bad = _unhealthy(settings) or _disagreeing(settings)
        if not bad:
            break
        if sup.poll() is not None or time.monotonic() > deadline:
            typer.echo(f"failed to start; not answering: {'; '.join(bad)}", err=True)
            typer.echo(f"--- {log}\n{P.tail(log)}", err=True)
            for node in settings.nodes:
                path = settings.run_dir / f"{node.name}.log"
                typer.echo(f"--- {path}\n{P.tail(path)}", err=True)
            _stop_recorded(settings, _running(settings))
            raise typer.Exit(3)
        time.sleep(0.3)
    typer.echo("cluster up: " + ", ".join(n.url for n in settings.nodes))


@app.command()
def stop() -> None:
    """Stop exactly the processes this data dir's run started."""
    settings = _load()
    procs = _running(settings)
    if not procs:
        typer.echo("nothing running")
        P.StateFile(settings.run_dir).remove()
        return
    _stop_recorded(settings, procs)
    typer.echo("stopped")


@app.command()
def status(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="exit code only")] = False,
) -> None:
    """Show what runs; exit 0 when every node answers, 3 otherwise."""
    settings = _load()
    procs = _running(settings)
    bad = _unhealthy(settings) if procs else ["nothing running"]
    if not quiet:
        for name, rec in procs.items():
            typer.echo(f"{name:<12} pid {rec.pid}")
        for node in settings.nodes:
            state = "down" if any(b.startswith(node.name) for b in bad) or not procs else "up"
            typer.echo(f"{node.name:<12} {node.url} {state}")
        if not procs:
            typer.echo("nothing running")
    raise typer.Exit(0 if not bad else 3)


if __name__ == "__main__":
    app(prog_name="./run.sh")
