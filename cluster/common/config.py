"""The one place configuration is read: cluster.toml, then METRICS_* environment variables.

Every process (supervisor, node, script) builds one `Settings` and passes it down; nothing else
reads the environment for our own options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "METRICS_"
CONFIG_ENV = "METRICS_CONFIG"
DEFAULT_CONFIG = "cluster.toml"
NAMESPACE = "metrics_cluster"


class NodeSpec(BaseModel):
    """One HTTP node of the cluster, as every peer knows it."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class RaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=26400, ge=1024, le=65000)
    worker_ports: int = Field(default=60, ge=10, le=500)
    num_cpus: int = Field(default=1, ge=0)
    # Seconds a node keeps retrying its first connection to the head.
    connect_timeout: float = Field(default=60.0, gt=0)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def ports(self) -> dict[str, int]:
        """Every port `ray start` would otherwise pick by itself, pinned: two clusters on one
        machine must not meet on a port Ray chose."""
        p = self.port
        return {
            "port": p,
            "node-manager-port": p + 1,
            "object-manager-port": p + 2,
            "runtime-env-agent-port": p + 3,
            "metrics-export-port": p + 4,
            "dashboard-agent-listen-port": p + 5,
            "dashboard-agent-grpc-port": p + 6,
            "min-worker-port": p + 10,
            "max-worker-port": p + 10 + self.worker_ports - 1,
        }


class BufferSettings(BaseModel):
    """The record buffers beside the counters (metric samples, host rows, events, integers)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    # Raw samples per series: at most raw_count, none older than raw_seconds before the newest.
    raw_seconds: float = Field(default=7 * 86400.0, gt=0)
    raw_count: int = Field(default=3600, ge=1)
    # Seconds each rollup resolution keeps, counted from a series' newest sample; 0: forever.
    minute_retention: float = Field(default=7 * 86400.0, ge=0)
    hour_retention: float = Field(default=90 * 86400.0, ge=0)
    # Ten years: a sample dated 1970 must not open a bucket kept for ever.
    day_retention: float = Field(default=3650 * 86400.0, ge=0)
    max_series: int = Field(default=1000, ge=1)
    # A series without a new sample for this long (by arrival, not by its timestamps) is
    # deleted with its history, freeing its room under max_series; 0: never.
    series_idle_seconds: float = Field(default=30 * 86400.0, ge=0)
    # Buckets each series keeps per resolution, whatever the retention (the oldest go first):
    # 20,000 days is 55 years; with the default retentions the bound is never reached.
    max_buckets_per_series: int = Field(default=20_000, ge=10)
    max_host_rows: int = Field(default=100_000, ge=1)
    max_users: int = Field(default=1_000_000, ge=1)
    # An event user without an event for this long is forgotten (its first-seen time too),
    # freeing its room under max_users; 0: never.
    user_idle_seconds: float = Field(default=90 * 86400.0, ge=0)
    # Past it POST /event gets 429, saying when the oldest events leave the last hour.
    max_recent_events: int = Field(default=1_000_000, ge=1)
    # Days (today included) of per-metric event counts kept for distinct_users; 0: for ever.
    event_days_kept: int = Field(default=3650, ge=0)
    # Day entries (one per metric and day) at most, over all metrics: past it, at the turn of
    # a UTC day, the oldest days go whole (within a day at most max_counters more are made).
    max_event_days: int = Field(default=5_000_000, ge=1)
    # Days (today included) for which each metric keeps its set of distinct users, so a late
    # event of a known user is not counted again; older days keep their numbers only.
    exact_user_days: int = Field(default=2, ge=1)
    # Integers are averaged over tumbling windows of event time; a window closes `grace`
    # seconds after its end, and later samples for it are refused.
    integer_window: float = Field(default=5.0, gt=0)
    integer_grace: float = Field(default=1.0, ge=0)
    integer_windows_kept: int = Field(default=1000, ge=10)
    # (generator, seq) pairs remembered to ignore resends; past it the oldest closed windows'
    # are forgotten (a resend for one of them then gets 400 late_integer).
    integer_duplicates_kept: int = Field(default=1_000_000, ge=1000)
    # The buffers are saved whole at most this often (their records are in the log meanwhile).
    snapshot_seconds: float = Field(default=60.0, ge=0)
    # A sample may be at most this many seconds ahead of the server's clock.
    max_future: float = Field(default=86400.0, ge=0)
    # Counters' history for PromQL (cluster/actor/history.py): a point per interval for the
    # first max_counter_history counters that change, kept counter_history_seconds.
    counter_history_interval: float = Field(default=10.0, ge=1)
    max_counter_history: int = Field(default=10_000, ge=0)
    counter_history_seconds: float = Field(default=3600.0, gt=0)

    def record_limits(self) -> dict[str, Any]:
        """The actor's `record_limits` (cluster/actor/records.py RecordLimits), as plain data."""
        return {
            "retention": {
                "raw_seconds": self.raw_seconds,
                "raw_count": self.raw_count,
                "minute": self.minute_retention or None,  # 0 means forever
                "hour": self.hour_retention or None,
                "day": self.day_retention or None,
            },
            "max_series": self.max_series,
            "series_idle_seconds": self.series_idle_seconds or None,  # 0 means never
            "max_buckets_per_series": self.max_buckets_per_series,
            "max_host_rows": self.max_host_rows,
            "max_users": self.max_users,
            "user_idle_seconds": self.user_idle_seconds or None,
            "max_recent_events": self.max_recent_events,
            "event_days_kept": self.event_days_kept or None,  # 0 means for ever
            "max_event_days": self.max_event_days,
            "exact_user_days": self.exact_user_days,
            "integer_window": self.integer_window,
            "integer_grace": self.integer_grace,
            "integer_windows_kept": self.integer_windows_kept,
            "integer_duplicates_kept": self.integer_duplicates_kept,
            "counter_history_interval": self.counter_history_interval,
            "max_counter_history": self.max_counter_history,
            "counter_history_seconds": self.counter_history_seconds,
        }


class AgentSettings(BaseModel):
    """The host agent (cluster/clients/host_agent.py) the supervisor runs beside the nodes."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    enabled: bool = True
    id: str | None = None  # default: this host's name
    interval: float = Field(default=1.0, gt=0)


class LiveSettings(BaseModel):
    """The live feeds on `/socket/websocket` (api/live/): Phoenix channels pushed to browsers."""

    model_config = ConfigDict(extra="forbid")

    interval: float = Field(default=1.0, gt=0)  # seconds between two host pushes
    # Seconds between two pushes of counter changes (changes coalesce in between), and the
    # most changed counters one push names (past it, clients are told to read them all again).
    counters_interval: float = Field(default=0.25, gt=0)
    max_changes: int = Field(default=5_000, ge=1)
    max_hosts: int = Field(default=100, ge=1)  # hosts a host push names: those heard from last
    # Frames a socket may send a second (a burst of twice as many); past it, it is closed.
    max_frames_per_second: float = Field(default=20.0, gt=0)
    max_clients: int = Field(default=5_000, ge=1)  # sockets a node holds at once
    # Of them, from one client address: a browser opens one; behind a proxy, raise it.
    max_clients_per_address: int = Field(default=1_000, ge=1)
    # Frames waiting for one client; a client past it is too slow and is closed (it reconnects).
    client_queue: int = Field(default=64, ge=1)
    # A socket that sends nothing for this long is closed (phoenix.js beats every 30 s).
    idle_timeout: float = Field(default=60.0, gt=0)
    max_frame_bytes: int = Field(default=65_536, ge=1024)  # of a frame a client sends


# The one definition of the default cluster: cluster.toml only shows it in a comment, and the
# clients (cluster/clients/common.py, scripts/seed_scenario.py) read `Settings().nodes`.
DEFAULT_NODE_PORTS = (4000, 4001, 4002)


def _default_nodes() -> list[NodeSpec]:
    return [NodeSpec(name=f"node-{p}", port=p) for p in DEFAULT_NODE_PORTS]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path(".data")
    # Actors the counters and series are spread over (docs/sharding.md). A data dir keeps the
    # number it was made with: another is refused (nothing moves data between counts yet).
    shards: int = Field(default=1, ge=1, le=64)
    nodes: list[NodeSpec] = Field(default_factory=_default_nodes, min_length=1)
    # Which of `nodes` this process serves; set by the supervisor for each node process.
    node_name: str | None = None
    ray: RaySettings = Field(default_factory=RaySettings)
    buffers: BufferSettings = Field(default_factory=BufferSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)

    discovery_interval: float = Field(default=2.0, gt=0)
    discovery_timeout: float = Field(default=1.0, gt=0)

    # process: a committed batch survives a killed process (synchronous=NORMAL);
    # fsync: it also survives a power cut (synchronous=FULL), at a cost in throughput.
    durability: Literal["process", "fsync"] = "process"
    # Seconds a batch id (node retries) and an Idempotency-Key (client retries) are remembered.
    dedup_window: float = Field(default=300.0, gt=0)
    idempotency_window: float = Field(default=600.0, gt=0)
    # Idempotency-Keys held at once, and their answers' bytes; past either a new keyed request
    # gets 429 until old keys expire (a request without a key is not affected).
    max_idempotency_keys: int = Field(default=100_000, ge=1)
    max_idempotency_bytes: int = Field(default=64 << 20, ge=1024)
    # Batches between two snapshots of the store; bounds the log replayed at recovery.
    snapshot_every: int = Field(default=1000, ge=1)
    # TEST ONLY: the actor exits after this many commits, before replying (0: never).
    test_crash_after_commits: int = Field(default=0, ge=0)

    # The admin API (/api/v1/admin/...) is off unless this is set; requests then carry it as
    # `Authorization: Bearer <token>`. Give every node the same one.
    admin_token: SecretStr | None = Field(default=None, min_length=16)

    # Input limits: over them a request gets a 4xx and nothing changes.
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # POST /metrics/batch: at most this many items and labels in all (a label listed twice
    # counts twice). The body limit follows from them: 100k labels of ~40 bytes each.
    max_batch_body_bytes: int = Field(default=4 << 20, ge=1024)
    max_batch_items: int = Field(default=10_000, ge=1)
    max_request_labels: int = Field(default=100_000, ge=1)
    max_counters: int = Field(default=1_000_000, ge=1)
    # A client connection that sent this many bodies of penalty_body_bytes or more refused as
    # bad input within penalty_seconds (an address: four times as many) gets 429 for its next
    # big bodies until the oldest of those refusals is that old (api/penalty.py); small
    # requests are never held back. 0: off.
    penalty_refusals: int = Field(default=5, ge=0, le=1000)
    penalty_seconds: float = Field(default=10.0, gt=0)
    penalty_body_bytes: int = Field(default=64 << 10, ge=1)

    # How batches reach the actor: "direct", a TCP connection from each node to the actor's
    # process (cluster/actor/server.py; Ray still places, restarts and names the actor, and carries
    # a batch whenever the connection fails), or "ray", a Ray actor call per batch.
    data_path: Literal["direct", "ray"] = "direct"
    # Group commit: at most this many actor calls in flight per node, each at most this big.
    max_in_flight: int = Field(default=2, ge=1)
    # While a call is in flight, the next batch waits for it unless it is this old (seconds).
    max_batch_age: float = Field(default=0.02, gt=0)
    # Under load, after a call returns, wait this long (seconds) for the clients just answered.
    batch_linger: float = Field(default=0.002, ge=0)
    max_batch_labels: int = Field(default=20_000, ge=1)
    # Labels (and records) a node holds waiting for the actor; past it a request gets 429.
    # A request not sent within store_deadline fails with 503, nothing of it applied.
    max_pending_labels: int = Field(default=1_000_000, ge=1)

    # One actor call attempt gives up after call_timeout (plus 1 s per 100k labels it carries)
    # and is retried with the same batch id; a request gives up after store_deadline (503).
    # Short on purpose: after the actor is killed, an attempt can hang ~2 s inside Ray while a
    # fresh one would already be answered (kill -> next 200 under load: up to 3.4 s with 5 s,
    # up to 1.95 s with 0.5 s, measured).
    call_timeout: float = Field(default=0.5, gt=0)
    store_deadline: float = Field(default=10.0, gt=0)

    # Supervisor: restart backoff for a crashed process, and the drain time on shutdown.
    restart_backoff: float = Field(default=1.0, gt=0)
    restart_backoff_max: float = Field(default=30.0, gt=0)
    shutdown_grace: float = Field(default=10.0, gt=0)
    start_timeout: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique, got {names}")
        if self.node_name is not None and self.node_name not in names:
            raise ValueError(f"node_name {self.node_name!r} is not one of the nodes {names}")
        if self.discovery_timeout > self.discovery_interval:
            raise ValueError("discovery_timeout must not exceed discovery_interval")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        del dotenv_settings, file_secret_settings  # only the TOML file and the environment
        known = {name.upper() for name in cls.model_fields} | {"CONFIG"}
        unknown = sorted(
            key
            for key in os.environ
            if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].split("__")[0] not in known
        )
        if unknown:  # a typo would otherwise be ignored silently
            raise ValueError(f"unknown settings in the environment: {', '.join(unknown)}")
        toml_file = os.environ.get(CONFIG_ENV)
        if toml_file is None:
            toml_file = DEFAULT_CONFIG
        elif not Path(toml_file).is_file():
            raise ValueError(f"{CONFIG_ENV}={toml_file}: no such file")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return (init_settings, env_settings, toml)

    @property
    def run_dir(self) -> Path:
        """Pids, logs and the Ray token of the processes started from this data dir."""
        return self.data_dir.resolve() / "run"

    @property
    def db_path(self) -> Path:
        return self.data_dir.resolve() / "counters.sqlite3"

    @property
    def this_node(self) -> NodeSpec:
        if self.node_name is None:
            raise ValueError("METRICS_NODE_NAME is not set: this process is not a node")
        return next(n for n in self.nodes if n.name == self.node_name)
