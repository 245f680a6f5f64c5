"""Run actions in threads released together, to make them race."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(actions: list[Callable[[], object]], timeout: float = 120) -> list[BaseException]:
    """Start every action in its own thread behind one barrier; the errors they raised."""
    barrier, errors = threading.Barrier(len(actions)), []

    def run(action: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            action()
        except BaseException as error:  # collected for the caller to assert
            errors.append(error)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
