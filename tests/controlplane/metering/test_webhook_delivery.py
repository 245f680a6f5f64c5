"""Webhook delivery over real HTTP: signed, retried on outages, not retried when refused."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from controlplane.metering.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, Alert, HttpNotifier, verify
from tests.support.identity import ServerThread


class Receiver:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def hook(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        return Response(status_code=self.answers.pop(0) if self.answers else 204)


def deliver(answers: list[int]) -> Receiver:
    receiver = Receiver(answers)
    with ServerThread(Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])) as server:
        HttpNotifier(timeout=5, attempts=3, backoff=0.01).send(
            Alert(f"{server.url}/hook", "s3cret", {"resource": "vcpus", "threshold": 80}), 1_700_000_000)
    return receiver


def test_a_signed_alert_is_retried_through_an_outage():
    receiver = deliver([503, 502])
    assert len(receiver.received) == 3
    body, headers = receiver.received[-1]
    assert headers[TIMESTAMP_HEADER.lower()] == "1700000000"
    assert verify("s3cret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
    assert receiver.received[0][0] == body  # every attempt carries the same signed body


def test_a_refusal_is_not_retried():
    assert len(deliver([400]).received) == 1


def test_it_gives_up_after_the_attempts():
    assert len(deliver([503, 503, 503, 503]).received) == 3
