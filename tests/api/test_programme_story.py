"""Programmes' whole story over the HTTP API, on both real databases, with a controlled clock: a startup
registers as a new user would (profile set), is verified, joins the free programme, gets its quota at once,
has usage samples, receives its expiry notices (signed webhook to a loopback receiver, e-mail to a real
aiosmtpd server), and its monthly statement during the programme totals 0 MAD with the 100 % discount on
every line; it chooses to continue, and the first month after expiry charges the listed price.

The figures are computed by hand below from controlplane/catalogue/prices.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import TokenVerifier
from controlplane.billing import schedule
from controlplane.clock import FrozenClock
from controlplane.composition import ApiRoot, build_api, worker_root
from controlplane.metering.alerts import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from controlplane.persistence.database import transaction
from controlplane.persistence.models import Project
from controlplane.programmes.catalogue import DEMO_PROGRAMMES
from controlplane.settings import Settings
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests import factories
from tests.support.fakes import InMemoryProvisioner, RecordingQueue
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.webhooks import Receiver

OPERATOR = ("operator",)
JOINED = datetime(2026, 2, 1, 9, tzinfo=UTC)  # the enrolment runs 12 months: until 2027-02-01 09:00
ENDS = datetime(2027, 2, 1, 9, tzinfo=UTC)
# What the metering collection reads on the cloud for the medium grant (the priced part), and what is used.
QUOTA = {"vcpus": 16, "ram_mib": 32768, "floating_ips": 5, "instances": 16, "volume_gib": 500, "object_gib": 100}
USED = {"vcpus": 6, "ram_mib": 12288, "floating_ips": 1, "instances": 3, "volume_gib": 40, "object_gib": 20}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(JOINED)


@pytest.fixture
def settings(database_url: str, issuer, tmp_path: Path, smtp: SmtpServer) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        oidc_issuer=issuer.url,
        broker_url="memory://",
        demo_accounts=False,
        programmes_path=DEMO_PROGRAMMES,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_sender="sahab@cloud.example.ma",
        alert_webhook_allowed_targets=["127.0.0.1/32"],
    )


@pytest.fixture
def runtime(settings: Settings, queue: RecordingQueue, clock: FrozenClock) -> Iterator[ApiRoot]:
    built = build_api(settings, queue=queue, clock=clock)
    yield built
    built.engine.dispose()


@pytest.fixture
def client(runtime: ApiRoot, settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings)), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def statement_of(client, headers, org: str, month: str) -> dict:
    [summary] = client.get("/v1/statements", headers=headers, params={"organisation_id": org, "month": month}).json()[
        "items"
    ]
    shown = client.get(f"/v1/statements/{summary['id']}", headers=headers)
    assert shown.status_code == 200, shown.text
    return shown.json()


def by_resource(statement: dict) -> dict[str, dict]:
    lines = {line["resource"]: line for line in statement["lines"]}
    assert len(lines) == len(statement["lines"]), "one line per resource: one project, one price version, one discount"
    return lines


def test_a_startup_joins_the_free_programme_pays_nothing_then_pays_the_listed_price(
    client, runtime, issuer, clock, queue, smtp
):
    founder, operator = issuer.headers("yasmine"), issuer.headers("olga", roles=OPERATOR)
    receiver = Receiver()
    with receiver.serving() as hooks:
        # 1. Registration with the profile, the operator's verification, the alert webhook.
        registered = client.post(
            "/v1/organisations",
            headers=founder,
            json={
                "kind": "business",
                "legal_name": "Atlas Startup SARL",
                "national_id": "001122334000055",
                "contact_email": "founders@atlas.example",
                "sector": "technology",
                "employees": 6,
                "founded_on": "2025-06-01",
            },
        )
        assert registered.status_code == 201, registered.text
        org = registered.json()["id"]
        assert client.post(f"/v1/organisations/{org}/verify", headers=operator).status_code == 200
        webhook = client.put(
            f"/v1/organisations/{org}/alert-webhook", headers=founder, json={"url": f"{hooks.url}/hook"}
        )
        assert webhook.status_code == 200, webhook.text
        secret = webhook.json()["secret"]

        # 2. It joins the free programme: enrolled at once, for 12 months.
        applied = client.post(
            "/v1/programmes/startup-launch/applications", headers=founder, json={"organisation_id": org}
        )
        assert applied.status_code == 201, applied.text
        enrolment = applied.json()
        assert enrolment["state"] == "enrolled" and enrolment["percent_off"] == "100.00"
        assert datetime.fromisoformat(enrolment["ends_at"]) == ENDS

        # 3. Its quota at once: medium (above a business's normal small), approved from the programme's reserve.
        request = client.post(
            "/v1/quota-requests",
            headers=founder,
            json={
                "organisation_id": org,
                "region": "rabat-1",
                "environment": "prod",
                "preset": "medium",
                "justification": "our first product",
            },
        ).json()
        assert request["state"] == "approved" and "programme startup-launch" in request["reason"]
        assert queue.provisioned == [request["id"]]
        workflow = ProvisioningWorkflow(runtime.sessions, runtime.deps, InMemoryProvisioner(), worker_id="w")
        assert workflow.provision(request["id"]) == "active"
        project = request["project_id"]
        # /v1/regions: the programme's reserve beside the general pool (rabat-1: 64 vCPUs x 4 overcommit = 256,
        # 2 x medium = 32 reserved, so 224 in the general pool, nothing granted from it).
        regions = {r["id"]: r for r in client.get("/v1/regions", headers=founder).json()}
        vcpus = regions["rabat-1"]["resources"]["vcpus"]
        assert (vcpus["capacity"], vcpus["reserved_programmes"], vcpus["general"], vcpus["granted"], vcpus["free"]) == (
            256,
            32,
            224,
            16,
            224,
        )
        assert regions["rabat-1"]["programmes"]["startup-launch"]["vcpus"] == {
            "reserved": 32,
            "granted": 16,
            "free": 16,
        }
        assert regions["rabat-1"]["programmes"]["startup-launch"]["object_gib"] == {
            "reserved": 200,
            "granted": 100,
            "free": 100,
        }
        # casablanca-1 has no object storage: its reserve (1 x medium) holds none
        assert "object_gib" not in regions["casablanca-1"]["programmes"]["digital-transition"]
        assert regions["casablanca-1"]["programmes"]["digital-transition"]["vcpus"]["reserved"] == 16

        # 4. Usage samples, as the metering collection writes them: one reading holds until the next.
        with transaction(runtime.sessions) as session:
            row = session.get_one(Project, project)
            assert row.programme_id == "startup-launch"
            factories.usage_sample(session, row, datetime(2026, 2, 1, 10, tzinfo=UTC), quota=QUOTA, used=USED)

        # 5. February 2026's statement, issued by the billing run on 1 March: 0 MAD, every line 100 % off.
        clock._now = datetime(2026, 3, 1, 1, tzinfo=UTC)
        [usage] = client.get(
            "/v1/usage",
            headers=founder,
            params={"organisation_id": org, "from": "2026-02-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        ).json()
        assert (usage["samples"], usage["volume_gib_hours"]) == (1, 40 * 662)  # the integration statements use
        assert schedule.run(runtime.sessions, runtime.deps.billing, clock, queue)["issued"] == ["SAH-2026-000001"]
        february = statement_of(client, founder, org, "2026-02")
        # From the first reading, 1 Feb 10:00, to the month's end: 27 days and 14 hours = 662 hours.
        # vcpus        16 x 662 = 10592 vCPU-h x 0.25   = 2648.00
        # ram_mib      32 GiB x 662 = 21184 GiB-h x 0.03 =  635.52
        # floating_ips  5 x 662 =  3310 IP-h x 0.02     =   66.20
        # volume_gib   40 GiB used x 662 = 26480 GiB-h x 0.0007 = 18.536 -> 18.54 (rounded once, half up)
        # object_gib   free until the 2027-01 price version
        # list total 3368.26; 100 % off: total 0.00, discount 3368.26
        lines = by_resource(february)
        assert {
            r: (line["quantity"], line["list_amount"], line["discount_percent"], line["programme"], line["amount"])
            for r, line in lines.items()
            if line["list_amount"] != "0.00"
        } == {
            "vcpus": ("10592.000000", "2648.00", "100.00", "startup-launch", "0.00"),
            "ram_mib": ("21184.000000", "635.52", "100.00", "startup-launch", "0.00"),
            "floating_ips": ("3310.000000", "66.20", "100.00", "startup-launch", "0.00"),
            "volume_gib": ("26480.000000", "18.54", "100.00", "startup-launch", "0.00"),
        }
        assert (
            february["state"],
            february["currency"],
            february["list_total"],
            february["discount_total"],
            february["total"],
        ) == ("issued", "MAD", "3368.26", "3368.26", "0.00")
        assert february["price_versions"] == ["2026-01"]

        # 6. The expiry notices, 30, 7 and 1 days before the end: each by signed webhook and by e-mail, once.
        worker = worker_root(runtime)  # the worker's root beside the API's, on the same database
        scheduler = worker.programme_scheduler
        for days in (30, 7, 1):
            clock._now = ENDS - timedelta(days=days, hours=-1)
            scheduler.run()
            scheduler.run()  # a second beat sends nothing more
        for delivery_id, _ in list(queue.webhooks):
            assert worker.webhooks.deliver(delivery_id) == "delivered"
        messages = smtp.wait_for(3)
    assert [m["Subject"].rsplit("(", 1)[1] for m in messages] == ["in 30 days)", "in 7 days)", "in 1 day)"]
    assert {m["To"] for m in messages} == {"founders@atlas.example"}
    notices = []
    for body, headers in receiver.received:
        assert verify(secret, headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()])
        notices.append(json.loads(body))
    assert [(n["type"], n["days_before"]) for n in notices] == [
        ("sahab.programme.expiry_notice", 30),
        ("sahab.programme.expiry_notice", 7),
        ("sahab.programme.expiry_notice", 1),
    ]

    # 7. It chooses to continue at the normal price; at the end its project moves to the general pool as it is.
    chosen = client.post(f"/v1/enrolments/{enrolment['id']}/choice", headers=founder, json={"choice": "continue"})
    assert chosen.status_code == 200, chosen.text
    clock._now = ENDS
    outcome = scheduler.run()
    assert outcome.expired == [enrolment["id"]] and outcome.continued == [enrolment["id"]]
    assert client.get(f"/v1/enrolments/{enrolment['id']}", headers=founder).json()["state"] == "continued"
    with transaction(runtime.sessions) as session:
        assert session.get_one(Project, project).programme_id is None
        factories.usage_sample(session, session.get_one(Project, project), ENDS, quota=QUOTA, used=USED)

    # 8. February 2027's statement: the listed price, no discount (the enrolment's end day is already paid).
    clock._now = datetime(2027, 3, 1, 1, tzinfo=UTC)
    assert schedule.run(runtime.sessions, runtime.deps.billing, clock, queue)["issued"] == ["SAH-2027-000001"]
    february_2027 = statement_of(client, founder, org, "2027-02")
    # The whole month: 28 days = 672 hours, prices of version 2027-01 (the same, and object storage priced).
    # vcpus        16 x 672 = 10752 x 0.25    = 2688.00
    # ram_mib      32 x 672 = 21504 x 0.03    =  645.12
    # floating_ips  5 x 672 =  3360 x 0.02    =   67.20
    # volume_gib   40 x 672 = 26880 x 0.0007  =   18.816 -> 18.82
    # object_gib   20 x 672 = 13440 x 0.0002  =    2.688 ->  2.69
    # total 3421.83, nothing off
    lines = by_resource(february_2027)
    assert {
        r: (line["quantity"], line["amount"], line["discount_percent"], line["programme"])
        for r, line in lines.items()
        if line["amount"] != "0.00"
    } == {
        "vcpus": ("10752.000000", "2688.00", "0", None),
        "ram_mib": ("21504.000000", "645.12", "0", None),
        "floating_ips": ("3360.000000", "67.20", "0", None),
        "volume_gib": ("26880.000000", "18.82", "0", None),
        "object_gib": ("13440.000000", "2.69", "0", None),
    }
    assert (february_2027["list_total"], february_2027["discount_total"], february_2027["total"]) == (
        "3421.83",
        "0.00",
        "3421.83",
    )
    assert february_2027["price_versions"] == ["2027-01"]
