"""Fault: PostgreSQL restarted under concurrent admissions, through two real API
processes. Every request is either committed once or refused with a retryable problem (503 with
Retry-After); nothing is half-written; a refused request succeeds when retried with its key once
the database is back; the running totals still equal the projects' sums."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from controlplane.capacity import lock_region, recompute
from controlplane.persistence.database import make_engine, make_session_factory, transaction
from controlplane.persistence.models import Project, QuotaRequest, RequestEvent
from controlplane.quota_requests.admission import ensure_regions
from tests import factories
from tests.support.api_process import post_all, sahab_api
from tests.support.catalogues import scaled_catalogue
from tests.support.waiting import wait_until

REQUESTS = 200
pytestmark = pytest.mark.postgres


def count_requests(sessions) -> int:
    with transaction(sessions) as session:
        return session.scalar(select(func.count()).select_from(QuotaRequest))


def test_postgres_restarted_under_concurrent_admissions(postgres, postgres_url, issuer, tmp_path):
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        ensure_regions(session, ["rabat-1", "casablanca-1"])
        org = factories.organisation(session, admin="fault").id
    token = issuer.token("fault")

    def ask(n: int) -> tuple[dict[str, str], dict[str, object]]:
        return (
            {"Authorization": f"Bearer {token}", "Idempotency-Key": f"fault-{n}"},
            {
                "organisation_id": org,
                "region": "rabat-1",
                "environment": f"f{n}",
                "preset": "small",
                "justification": "under a restart",
            },
        )

    with sahab_api(postgres_url, issuer.url, workers=2, catalogue=scaled_catalogue(tmp_path, 1000)) as base:
        answers: list = []
        sender = threading.Thread(
            target=lambda: answers.extend(post_all(base, "/v1/quota-requests", [ask(n) for n in range(REQUESTS)]))
        )
        sender.start()
        # some admissions have committed: now cut the database
        wait_until(lambda: count_requests(sessions) >= 10, 60, "ten admissions committed")
        engine.dispose()
        postgres.restart(down_seconds=2)
        sender.join(timeout=180)
        assert not sender.is_alive()

        statuses = [a.status_code if not isinstance(a, Exception) else repr(a) for a in answers]
        summary = {s: statuses.count(s) for s in set(statuses)}
        print(f"answers while PostgreSQL restarted: {summary}")
        assert set(statuses) <= {201, 503}, summary
        refused = [n for n, a in enumerate(answers) if a.status_code == 503]
        assert refused, "the restart must have hit some requests"
        for n in refused:
            problem = answers[n]
            assert problem.headers["content-type"].startswith("application/problem+json")
            assert problem.json()["type"] == "urn:sahab:problem:dependency-unavailable"
            assert int(problem.headers["Retry-After"]) >= 1

        committed_first = _check_rows(sessions, org, answers)

        # Retried with the same key once the database is back, as a client does (after Retry-After, and
        # again while the key is still "in progress"): each refused request is committed once.
        retried = _retry(base, [ask(n) for n in refused])
    for n, answer in zip(refused, retried, strict=True):
        if n in committed_first:  # committed although its answer was lost with the connection
            assert answer.status_code in (201, 409), answer.text
        else:
            assert answer.status_code == 201, answer.text
    with transaction(sessions) as session:
        per_env = dict(
            session.execute(select(QuotaRequest.environment, func.count()).group_by(QuotaRequest.environment)).all()
        )
    assert per_env == {f"f{n}": 1 for n in range(REQUESTS)}
    _check_rows(sessions, org, None)
    engine.dispose()


def _retry(base: str, asks: list, attempts: int = 15) -> list:
    answers = post_all(base, "/v1/quota-requests", asks)
    for _ in range(attempts):
        again = [
            n
            for n, a in enumerate(answers)
            if a.status_code == 503 or (a.status_code == 409 and a.json()["type"].endswith("idempotency-in-progress"))
        ]
        if not again:
            break
        time.sleep(2)  # the Retry-After the API asks for
        for n, answer in zip(again, post_all(base, "/v1/quota-requests", [asks[n] for n in again]), strict=True):
            answers[n] = answer
    return answers


def _check_rows(sessions, org: str, answers) -> set[int]:
    """Nothing half-written: each request with its events, each approval with its project and grant;
    the totals equal the sums. Returns the numbers of the requests that exist although refused."""
    with transaction(sessions) as session:
        requests = {
            r.environment: r for r in session.scalars(select(QuotaRequest).where(QuotaRequest.organisation_id == org))
        }
        events = dict(
            session.execute(select(RequestEvent.request_id, func.count()).group_by(RequestEvent.request_id)).all()
        )
        projects = {p.id: p for p in session.scalars(select(Project))}
        stored, actual = lock_region(session, "rabat-1").sums, recompute(session, "rabat-1")
    for request in requests.values():
        assert request.state == "approved", request.reason
        assert events[request.id] == 2
        assert projects[request.project_id].granted == request.amounts
    assert len(projects) == len(requests)
    assert (stored.all, stored.business) == (actual.all, actual.business)
    if answers is None:
        return set()
    for n, answer in enumerate(answers):
        if answer.status_code == 201:
            assert f"f{n}" in requests
    return {n for n, answer in enumerate(answers) if answer.status_code == 503 and f"f{n}" in requests}
