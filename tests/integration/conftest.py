from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cluster.ops.local import LocalCluster

# Probing every 0.5 s lets the tests see a node go down and up quickly.
FAST_DISCOVERY = {"METRICS_DISCOVERY_INTERVAL": "0.5", "METRICS_DISCOVERY_TIMEOUT": "0.4"}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One running cluster shared by the tests that do not need a fresh one."""
    with LocalCluster(tmp_path_factory.mktemp("cluster"), extra_env=dict(FAST_DISCOVERY)) as c:
        yield c


@pytest.fixture
def make_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalCluster]]:
    """Fresh, not yet started clusters; each is stopped at the end of the test."""
    made: list[LocalCluster] = []

    def make(extra_env: dict[str, str] | None = None) -> LocalCluster:
        c = LocalCluster(
            tmp_path_factory.mktemp("fresh"), extra_env=FAST_DISCOVERY | (extra_env or {})
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
