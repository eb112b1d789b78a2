from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cluster.local import LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One running cluster shared by the tests that do not need a fresh one."""
    c = LocalCluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def make_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LocalCluster]]:
    """Fresh, not yet started clusters; each is stopped at the end of the test."""
    made: list[LocalCluster] = []

    def make(**kwargs) -> LocalCluster:
        c = LocalCluster(tmp_path_factory.mktemp("fresh"), **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
