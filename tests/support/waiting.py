"""Waiting for an event that nothing announces: poll a predicate until it holds, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.05,
    error: type[Exception] = AssertionError,
) -> T:
    """Return the predicate's first truthy value; raise `error` with `what` (and the last value) after
    `timeout` s (RuntimeError for a real part that does not start: it fails the run, never skips).

    The only place the tests sleep to synchronise: use it where no event can be awaited (another
    process, a server without a readiness signal); await the event itself where there is one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise error(f"{what}: not within {timeout:g}s (last: {value!r})")
        time.sleep(interval)
