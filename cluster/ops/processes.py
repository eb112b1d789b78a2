"""Starting and stopping the cluster's processes by pid, and the state file that remembers them.

Every process we start gets a session of its own (setsid), so a terminal's Ctrl-C reaches only
the supervisor, which then stops the others in order. A Ray head's workers leave its process
group but stay in its session: stopping a process means stopping its whole session, and nothing
that is not in it (never Ray's own stop command, which stops every Ray process on the machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from cluster.common.config import NAMESPACE, Settings


@dataclass(frozen=True)
class Recorded:
    """A process we started, as written to the state file: the create time tells a reused pid."""

    pid: int
    create_time: float

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.create_time and proc.status() != "zombie"
        except psutil.Error:
            return False

    @classmethod
    def of(cls, pid: int) -> Recorded:
        return cls(pid, psutil.Process(pid).create_time())


class StateFile:
    """`run/state.json`: the supervisor's pid and every child's, rewritten on each change."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "state.json"

    def read(self) -> dict[str, Recorded]:
        try:
            raw = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {name: Recorded(**rec) for name, rec in raw.items()}

    def write(self, procs: dict[str, Recorded]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: vars(r) for n, r in procs.items()}, indent=1))
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def ray_temp_dir(run_dir: Path) -> Path:
    """Ray's temp dir. Short and fixed per run dir: Ray's unix socket paths inside it must stay
    under 107 bytes, which a deep data dir would exceed. `run/ray` links to it. It lies in a
    parent of our own (`private_dir`), so another local user cannot create it first."""
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:10]
    return Path("/tmp") / f"mc-{os.getuid()}" / f"ray-{digest}"


def private_dir(path: Path) -> Path:
    """Create `path` mode 0700 if missing, and check that it is ours: a real directory (not a
    symlink), owned by this user, closed to group and others. Raises RuntimeError otherwise."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise RuntimeError(f"{path}: cannot create a private directory: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"{path} is not a directory (a symlink?); remove it and start again")
    if info.st_uid != os.getuid():
        raise RuntimeError(f"{path} belongs to uid {info.st_uid}, not to us; remove it first")
    if info.st_mode & 0o077:
        path.chmod(0o700)  # ours, merely too open (made by an older version): close it
    return path


def token(run_dir: Path) -> str:
    """The cluster's Ray auth token, created once per run dir, readable by its owner only."""
    path = run_dir / "ray_token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def ray_env(settings: Settings) -> dict[str, str]:
    """What every process of ours needs to reach our Ray head and no other: token auth, the
    head's address, loopback kept as given, actors at normal priority, a quick stop."""
    return {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token(settings.run_dir),
        "RAY_ADDRESS": settings.ray.address,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_worker_niceness": "0",
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def head_command(settings: Settings) -> list[str]:
    ray_bin = str(Path(sys.executable).with_name("ray"))
    ports = [f"--{flag}={port}" for flag, port in settings.ray.ports().items()]
    return [
        ray_bin, "start", "--head", "--block",
        f"--node-ip-address={settings.ray.host}",
        *ports,
        f"--temp-dir={ray_temp_dir(settings.run_dir)}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--num-cpus={settings.ray.num_cpus}",
    ]  # fmt: skip


# A driver that joins and leaves: what every node does first, so the truest probe of a head.
_JOIN = """
import sys, ray
ray.init(address=sys.argv[1], namespace=sys.argv[2], logging_level="ERROR", log_to_driver=False)
ray.shutdown()
"""


def join_probe(settings: Settings, env: dict[str, str], timeout: float) -> str | None:
    """None when a Ray driver can join our head within `timeout`, else why not. A head can
    listen on its port and still not take drivers (seen about once in a dozen starts)."""
    argv = [sys.executable, "-c", _JOIN, settings.ray.address, NAMESPACE]
    try:
        done = subprocess.run(
            argv,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return f"a driver could not join within {timeout:g} s"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"a driver failed to join: {lines[-1] if lines else done.returncode}"
    return None


def node_command() -> list[str]:
    return [sys.executable, "-m", "api"]


def agent_command(settings: Settings) -> list[str]:
    """The host agent, posting this host's usage to every node in turn."""
    argv = [sys.executable, "-m", "cluster.clients.host_agent"]
    argv += ["--interval", str(settings.agent.interval)]
    for node in settings.nodes:
        argv += ["--url", node.url]
    if settings.agent.id:
        argv += ["--id", settings.agent.id]
    return argv


def spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def session_members(leader: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == leader:
                members.append(proc)
    return members


def stop_session(rec: Recorded, grace: float) -> None:
    """SIGTERM the leader, give it `grace` seconds, then SIGKILL whatever is left of its session.
    With RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0 a Ray head stops in ~2-4 s this way."""
    if rec.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while rec.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
    leftovers = session_members(rec.pid)
    if rec.alive():
        # A foreground supervisor (`./run.sh`) leads no session of its own: kill it by pid,
        # or a hung one would outlive `stop`.
        with contextlib.suppress(psutil.Error):
            leftovers.append(psutil.Process(rec.pid))
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=5)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def busy_ports(settings: Settings) -> list[str]:
    """Ports we are about to bind that something else already listens on."""
    wanted: Iterable[tuple[str, str, int]] = [
        *((n.name, n.host, n.port) for n in settings.nodes),
        *((f"ray {flag}", settings.ray.host, port) for flag, port in settings.ray.ports().items()),
    ]
    return [f"{what} {host}:{port}" for what, host, port in wanted if port_in_use(host, port)]


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
