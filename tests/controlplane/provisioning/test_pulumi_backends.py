"""The Pulumi provisioner on each backend it supports, against the local OpenStack:
the embedded file:// default and PostgreSQL (production, shared by all workers)."""

from __future__ import annotations

import uuid

import pytest

from controlplane.contract import QUOTA_FIELDS, TenantSpec
from controlplane.provisioning.pulumi import PulumiProvisioner

pytestmark = [pytest.mark.devcloud, pytest.mark.pulumi, pytest.mark.timeout(900)]


@pytest.fixture(params=["file", "postgres"])
def backend_url(request, tmp_path):
    if request.param == "file":
        return ""  # the embedded default under data_dir
    server = request.getfixturevalue("postgres")
    return server.create_database().replace("postgresql://", "postgres://") + "?sslmode=disable"


def test_apply_preview_credentials_destroy(toolchain_on_path, backend_url, tmp_path):
    from tests.support.devcloud import clouds_yaml

    provisioner = PulumiProvisioner(tmp_path / "data", backend_url, "test-passphrase", str(clouds_yaml()))
    provisioner.check_available()
    quota = {name: 2 for name in QUOTA_FIELDS}
    spec = TenantSpec(
        project_id=f"prj_{uuid.uuid4().hex[:12]}",
        organisation_id=f"org_{uuid.uuid4().hex[:8]}",
        organisation_name="Backend test",
        request_id="req_backend",
        region_id="rabat-1",
        cloud="sahab-devcloud",
        openstack_region="RegionOne",
        domain_id="default",
        environment="ci",
        quota=quota,
    )
    progress = []
    try:
        outputs = provisioner.apply(spec, progress.append)
        assert outputs.openstack_project_id and outputs.user_name == spec.user_name
        assert {e.message for e in progress} >= {"created Project project", "created QuotaSetV2 compute-quota"}
        plan = provisioner.preview(TenantSpec(**{**spec.__dict__, "quota": {**quota, "vcpus": 3}}))
        assert plan["summary"].get("update") == 1
        assert plan["steps"] == [
            {
                "op": "update",
                "type": "openstack:compute/quotaSetV2:QuotaSetV2",
                "name": "compute-quota",
                "changed": ["cores"],
            }
        ]
        stored = provisioner.outputs(spec)
        assert (
            stored.user_name == spec.user_name and stored.password == outputs.password and len(outputs.password) >= 24
        )
        # Sahab's password is the one a later run keeps.
        assert provisioner.apply(spec, progress.append, outputs.password).password == outputs.password
    finally:
        provisioner.destroy(spec, progress.append)
    assert "deleted Project project" in {e.message for e in progress}
