"""Webhook receivers for delivery tests, on loopback: a well-behaved one (ASGI over uvicorn) and raw-socket
ones that misbehave (drip a byte at a time, flood a huge body). And a resolver whose answers a test sets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.identity import ServerThread


class StaticResolver:
    """Answers from a map host -> [addresses]; a list of maps is consumed one per call (DNS rebinding)."""

    def __init__(self, *answers: dict[str, list[str]]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if host not in answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answer[host]


class Receiver:
    """Answers each POST /hook with the next status of `answers` (204 once they are used up)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def hook(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.answers.pop(0) if self.answers else 204)

    @contextmanager
    def serving(self) -> Iterator[ServerThread]:
        with ServerThread(Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])) as server:
            yield server


@dataclass
class RawReceiver:
    """A receiver on a raw socket: reads the request head, then runs `behaviour` until the client leaves."""

    port: int
    sent: int = 0
    requests: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)


def _read_head(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return
        data += chunk


@contextmanager
def _raw_receiver(behaviour: str, stop: threading.Event) -> Iterator[RawReceiver]:
    listener = socket.create_server(("127.0.0.1", 0))
    receiver = RawReceiver(port=listener.getsockname()[1])

    def serve() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        receiver.requests += 1
        with connection:
            _read_head(connection)
            try:
                if behaviour == "drip":
                    # A valid answer, one header byte every 50 ms: each read returns well within any read timeout.
                    connection.sendall(b"HTTP/1.1 200 OK\r\n")
                    while not stop.wait(0.05):
                        connection.sendall(b"X")
                        receiver.sent += 1
                else:  # flood: 64 MiB of body
                    size, chunk = 64 * 1024 * 1024, b"x" * 65536
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                    while receiver.sent < size and not stop.is_set():
                        connection.sendall(chunk)
                        receiver.sent += len(chunk)
            except OSError:
                pass  # the client cut the connection
            receiver.client_gone.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


@contextmanager
def dripping_receiver() -> Iterator[RawReceiver]:
    with _raw_receiver("drip", threading.Event()) as receiver:
        yield receiver


@contextmanager
def flooding_receiver() -> Iterator[RawReceiver]:
    with _raw_receiver("flood", threading.Event()) as receiver:
        yield receiver


def self_signed(hostname: str, directory: Path) -> tuple[Path, Path]:
    """A certificate valid for `hostname` only (not for its address), and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@contextmanager
def tls_serving(receiver: Receiver, cert_file: Path, key_file: Path) -> Iterator[int]:
    """The receiver over HTTPS on a free loopback port (yields the port)."""
    import uvicorn

    from tests.support.ports import free_port, wait_for_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(cert_file),
            ssl_keyfile=str(key_file),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port, 20, "TLS test receiver")
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
