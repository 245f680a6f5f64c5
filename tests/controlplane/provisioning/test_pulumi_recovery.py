"""Recovery of a stack that lost track of objects it created (an update killed between the
cloud's answer and the state write): the next update adopts them by name, no twins appear."""

from __future__ import annotations

import uuid

import pytest

from controlplane.contract import QUOTA_FIELDS, TenantSpec
from controlplane.provisioning.pulumi import PulumiProvisioner

pytestmark = [pytest.mark.devcloud, pytest.mark.pulumi, pytest.mark.timeout(900)]
FORGOTTEN = {"user", "user-member", "network", "subnet", "router", "router-subnet"}


def test_objects_missing_from_the_state_are_adopted_not_created_twice(toolchain_on_path, tmp_path):
    import openstack

    from tests.support.devcloud import clouds_yaml

    provisioner = PulumiProvisioner(tmp_path / "data", "", "test-passphrase", str(clouds_yaml()))
    spec = TenantSpec(
        project_id=f"prj_{uuid.uuid4().hex[:12]}",
        organisation_id=f"org_{uuid.uuid4().hex[:8]}",
        organisation_name="Recovery",
        request_id="req_recovery",
        region_id="rabat-1",
        cloud="sahab-devcloud",
        openstack_region="RegionOne",
        domain_id="default",
        environment="ci",
        quota={name: 3 for name in QUOTA_FIELDS},
        external_network="public",
        create_network=True,
    )
    import openstack.config

    admin = openstack.connection.Connection(
        config=openstack.config.OpenStackConfig(config_files=[str(clouds_yaml())]).get_one(cloud="sahab-devcloud")
    )
    progress = []
    try:
        first = provisioner.apply(spec, progress.append)
        stack = provisioner._open(spec)[1]
        exported = stack.export_stack()
        resources = exported.deployment["resources"]
        exported.deployment["resources"] = [r for r in resources if r["urn"].rsplit("::", 1)[-1] not in FORGOTTEN]
        stack.import_stack(exported)

        progress.clear()
        second = provisioner.apply(spec, progress.append)
        adopted = {e.resource_name for e in progress if e.operation == "import"}
        assert adopted == FORGOTTEN - {"user-member"}, [e.message for e in progress]
        assert second.network_id == first.network_id
        networks = list(admin.network.networks(project_id=first.openstack_project_id))
        routers = list(admin.network.routers(project_id=first.openstack_project_id))
        assert len(networks) == 1 and len(routers) == 1
        assert len([u for u in admin.identity.users(name=spec.user_name)]) == 1
        assert provisioner.preview(spec)["steps"] == []
    finally:
        provisioner.destroy(spec, progress.append)
    assert admin.identity.find_project(spec.openstack_project_name, ignore_missing=True) is None
