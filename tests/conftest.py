"""Shared test helpers: `wait_for` polls instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]  # the repository: its scripts and run.sh


def wait_for(
    predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy; fail with the last error at `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
            if result:
                return result
            last = result
        except Exception as exc:  # the last one goes into the failure message
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: last {last!r}")
        time.sleep(interval)
