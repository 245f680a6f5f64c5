"""Credentials are served from the database, sealed by the worker when provisioning ended:
the API process never runs (nor imports) the Pulumi engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from controlplane.persistence.database import transaction
from controlplane.persistence.models import ProjectCredentials
from controlplane.workflows.provisioning import ProvisioningWorkflow
from tests.support.api import create_request, make_active, org_with_admin
from tests.support.fakes import InMemoryProvisioner

ROOT = Path(__file__).resolve().parents[2]


def provisioned(client, runtime, issuer, provisioner: InMemoryProvisioner) -> str:
    org = org_with_admin(runtime, "amina")
    request = create_request(client, issuer.headers("amina"), org)
    workflow = ProvisioningWorkflow(runtime.sessions, runtime.deps, provisioner, worker_id="w", vault=runtime.vault)
    assert workflow.provision(request["id"]) == "active"
    return request["project_id"]


def test_credentials_sealed_at_provisioning_are_served_not_cached(client, runtime, issuer):
    provisioner = InMemoryProvisioner()
    project_id = provisioned(client, runtime, issuer, provisioner)
    response = client.get(f"/v1/projects/{project_id}/credentials", headers=issuer.headers("amina"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    (entry,) = response.json()["clouds"].values()
    password = provisioner.passwords[project_id]
    assert entry["auth"]["password"] == password and entry["auth"]["project_id"] == f"os-{project_id}"
    with transaction(runtime.sessions) as session:
        assert password not in session.get_one(ProjectCredentials, project_id).sealed


def test_a_project_provisioned_before_credentials_were_stored_is_fetched_by_a_worker(client, runtime, issuer, queue):
    org = org_with_admin(runtime, "amina")
    request = create_request(client, issuer.headers("amina"), org)
    project_id = make_active(runtime, request["id"])  # as a project of an older Sahab: nothing stored
    provisioner = InMemoryProvisioner()
    provisioner.passwords[project_id] = "the-stacks-own-password"
    provisioner.tenants[project_id] = None  # type: ignore[assignment]  # its stack exists
    pending = client.get(f"/v1/projects/{project_id}/credentials", headers=issuer.headers("amina"))
    assert pending.status_code == 503, pending.text
    assert pending.json()["type"] == "urn:sahab:problem:credentials-pending"
    assert pending.json()["retry_after_seconds"] == 5
    assert queue.captured == [project_id]

    workflow = ProvisioningWorkflow(runtime.sessions, runtime.deps, provisioner, worker_id="w", vault=runtime.vault)
    assert workflow.capture_credentials(project_id) == "captured"
    assert workflow.capture_credentials(project_id) == "nothing to do: stored"
    served = client.get(f"/v1/projects/{project_id}/credentials", headers=issuer.headers("amina"))
    assert served.status_code == 200
    assert next(iter(served.json()["clouds"].values()))["auth"]["password"] == "the-stacks-own-password"


API_PROCESS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from api.app import create_app
    from api.auth.verifier import TokenVerifier
    from controlplane.persistence.migrate import upgrade
    from controlplane.composition import build_api
    from controlplane.settings import Settings
    from controlplane.workflows.provisioning import ProvisioningWorkflow
    from tests.support.api import create_request, make_active, org_with_admin
    from tests.support.fakes import InMemoryProvisioner, RecordingQueue
    from tests.support.identity import TestIssuer

    data = Path(sys.argv[1])
    url = f"sqlite:///{data / 'sahab.db'}"
    upgrade(url)
    with TestIssuer() as issuer:
        settings = Settings(database_url=url, data_dir=data, oidc_issuer=issuer.url, broker_url="memory://",
                            demo_accounts=False, provisioner="pulumi")
        queue = RecordingQueue()
        runtime = build_api(settings, queue=queue)
        with TestClient(create_app(runtime=runtime, verifier=TokenVerifier.from_settings(settings))) as client:
            headers = issuer.headers("amina")
            org = org_with_admin(runtime, "amina")
            stored = create_request(client, headers, org, env="stored")
            ProvisioningWorkflow(runtime.sessions, runtime.deps, InMemoryProvisioner(), worker_id="w",
                                 vault=runtime.vault).provision(stored["id"])
            legacy = make_active(runtime, create_request(client, headers, org, env="legacy")["id"])
            answers = [client.get(f"/v1/projects/{p}/credentials", headers=headers).status_code
                       for p in (stored["project_id"], legacy)]
            answers.append(client.get("/metrics").status_code)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pulumi", "pulumi_openstack", "stacks"))
    print(json.dumps({"answers": answers, "loaded": loaded, "captured": queue.captured}))
""")


@pytest.mark.processes
def test_the_api_process_never_imports_pulumi(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", API_PROCESS, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["answers"] == [200, 503, 200]
    assert len(seen["captured"]) == 1
    assert seen["loaded"] == []
