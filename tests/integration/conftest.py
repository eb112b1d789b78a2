from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.cluster import Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One running cluster shared by the tests that do not need a fresh one."""
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def make_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Cluster]]:
    """Fresh, not yet started clusters; each is stopped at the end of the test."""
    made: list[Cluster] = []

    def make(**kwargs) -> Cluster:
        c = Cluster(tmp_path_factory.mktemp("fresh"), **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
