"""One trace crosses processes down to Pulumi: the API (uvicorn) and a Celery worker, on PostgreSQL and
RabbitMQ, export their spans over OTLP/HTTP to a real OpenTelemetry Collector built from Go modules
(tests/support/otelcol.py), and a real provisioning runs the Pulumi engine against the local OpenStack.
The worker's `pulumi.up` span carries the trace id of the POST that admitted the request: the context
travels in the task message's headers through RabbitMQ. The decommission that cleans up is traced too,
down to `pulumi.destroy`."""

from __future__ import annotations

import pytest

from tests.support.e2e import wait_for
from tests.support.otelcol import Collector
from tests.support.tenants import ask, cleanup

pytestmark = [
    pytest.mark.devcloud,
    pytest.mark.pulumi,
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.timeout(900),
]
FINAL = {"active", "failed", "rejected", "cancelled"}


def test_the_post_and_the_workers_pulumi_up_share_one_trace(sahab, api, tenant, cloud, tmp_path):
    owner, org = tenant
    with Collector(tmp_path) as collector:
        # The fixture's API was started without an endpoint: serve it again with traces on.
        sahab.kill("api")
        sahab.env.update(SAHAB_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
        sahab.start_api()
        sahab.start_worker("traced")
        try:
            created = ask(api, owner, org, "traced", vcpus=1, instances=1)
            request = wait_for(api, owner, created["id"], FINAL, 300)
            assert request["state"] == "active", (request, sahab.log("traced"))

            def provisioned(spans) -> bool:  # type: ignore[no-untyped-def]
                return any(s.name == "pulumi.up" for s in spans) and any(
                    s.name == "POST /v1/quota-requests" for s in spans
                )

            spans = collector.wait_for(provisioned, timeout=60)
            post = next(s for s in spans if s.name == "POST /v1/quota-requests" and s.service == "sahab-api")
            up = next(s for s in spans if s.name == "pulumi.up")
            task = next(s for s in spans if s.name == "run/sahab.provision")
            publish = next(s for s in spans if s.name == "apply_async/sahab.provision")
            assert (post.service, publish.service, task.service, up.service) == (
                "sahab-api",
                "sahab-api",
                "sahab-worker",
                "sahab-worker",
            )
            assert up.trace_id == task.trace_id == publish.trace_id == post.trace_id
            assert task.parent_span_id == publish.span_id
            in_trace = {s.span_id: s for s in spans if s.trace_id == post.trace_id}
            ancestor = up
            while ancestor.parent_span_id in in_trace and ancestor is not task:  # pulumi.up runs inside the task
                ancestor = in_trace[ancestor.parent_span_id]
            assert ancestor is task, [(s.name, s.service) for s in in_trace.values()]

            gone = api.post(f"/v1/projects/{request['project_id']}/decommission", headers=owner)
            assert gone.status_code == 200, gone.text
            assert wait_for(api, owner, created["id"], {"decommissioned"}, 300)["state"] == "decommissioned"
            spans = collector.wait_for(lambda found: any(s.name == "pulumi.destroy" for s in found), timeout=60)
            destroy = next(s for s in spans if s.name == "pulumi.destroy")
            decommission = next(s for s in spans if s.name == "POST /v1/projects/{project_id}/decommission")
            assert destroy.trace_id == decommission.trace_id != post.trace_id
        finally:
            cleanup(cloud, org)
