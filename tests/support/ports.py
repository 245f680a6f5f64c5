from __future__ import annotations

import socket

from tests.support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, what: str, log_hint: str = "") -> None:
    def open_() -> bool:  # a process opening a port announces nothing: poll it
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(open_, timeout, f"{what} opening 127.0.0.1:{port}. {log_hint}", interval=0.2, error=RuntimeError)
