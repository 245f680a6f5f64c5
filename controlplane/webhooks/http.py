"""One webhook POST: to the checked address only, within a total deadline, reading a bounded answer.

httpcore is used directly (not httpx) so that no proxy from the environment applies and so that the
connection is made by our network backend, which
- connects to the address the TargetPolicy checked, whatever the name resolves to by now, while the
  URL keeps the original host: the Host header, TLS SNI and certificate check use the name;
- bounds every read and write by the time left until the delivery's deadline, and shuts the socket down
  when the deadline passes, so a receiver that drips one byte at a time is cut at the deadline (a
  per-read timeout alone never fires against it);
and the response body is streamed and dropped after `max_response_bytes`."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import typing
from dataclasses import dataclass

import httpcore

from controlplane.webhooks.targets import Target

USER_AGENT = "sahab-webhooks/1"


class DeadlineExceeded(httpcore.TimeoutException):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most max_response_bytes
    truncated: bool  # the receiver sent more; the rest was not read


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, timeout: float | None = None) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the delivery deadline passed")
        return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the deadline; a watchdog shuts the socket down then."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self.inner = inner
        self.deadline = deadline
        sock = inner.get_extra_info("socket")
        self.watchdog = threading.Timer(max(deadline.at - time.monotonic(), 0), self._cut, args=(sock,))
        self.watchdog.daemon = True
        self.watchdog.start()

    @staticmethod
    def _cut(sock: socket.socket | None) -> None:
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.inner.read(max_bytes, self.deadline.left(timeout))
        self.deadline.left()  # bytes arriving after the deadline (a cut socket answers b"") do not count
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.deadline.left(timeout))

    def close(self) -> None:
        self.watchdog.cancel()
        self.inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wrapped = self.inner.start_tls(ssl_context, server_hostname, self.deadline.left(timeout))
        self.watchdog.cancel()
        return _BoundedStream(wrapped, self.deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked address only, never to whatever `host` resolves to now."""

    def __init__(self, target: Target, deadline: _Deadline) -> None:
        self.target = target
        self.deadline = deadline
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if (host.lower().strip("[]").rstrip("."), port) != (self.target.host.strip("[]"), self.target.port):
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}, not the checked webhook target")
        stream = self.inner.connect_tcp(
            self.target.address, port, self.deadline.left(timeout), local_address, socket_options
        )
        return _BoundedStream(stream, self.deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline_seconds: float,
    max_response_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """POST body to the checked target; raises httpcore.TimeoutException (deadline) or another
    httpcore error (connection refused, TLS...). Redirects are not followed (an answer like any other)."""
    deadline = _Deadline(deadline_seconds)
    backend = _PinnedBackend(target, deadline)
    timeouts = {
        "connect": deadline_seconds,
        "read": deadline_seconds,
        "write": deadline_seconds,
        "pool": deadline_seconds,
    }
    request_headers = [
        ("Host", _host_header(target)),
        ("User-Agent", USER_AGENT),
        ("Connection", "close"),
        *headers.items(),
    ]
    with httpcore.ConnectionPool(
        ssl_context=ssl_context or ssl.create_default_context(), network_backend=backend, max_connections=1, retries=0
    ) as pool:
        with pool.stream(
            "POST", target.url, headers=request_headers, content=body, extensions={"timeout": timeouts}
        ) as response:
            received, size, truncated = [], 0, False
            for chunk in response.iter_stream():
                received.append(chunk)
                size += len(chunk)
                if size >= max_response_bytes:
                    truncated = size > max_response_bytes
                    break  # closing the stream drops the connection and the rest of the body
            return Answer(response.status, b"".join(received)[:max_response_bytes], truncated)


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"
