"""The tenant stack program under Pulumi's own mocks: no engine, no cloud."""

from __future__ import annotations

import pulumi
import pytest

from controlplane.contract import QUOTA_FIELDS, TenantSpec


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: dict[str, tuple[str, dict, dict]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources[args.name] = (args.typ, dict(args.inputs), {"import": args.resource_id or None})
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "openstack:identity/getRole:getRole":
            return {"id": "role-member-id", "name": args.args["name"]}
        if args.token == "openstack:networking/getNetwork:getNetwork":
            return {"id": "external-net-id", "name": args.args["name"]}
        raise AssertionError(f"unexpected invoke {args.token}")


@pytest.fixture
def mocks():
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="sahab", stack="prj_test", preview=False)
    yield recorder


QUOTA = {name: 10 + i for i, name in enumerate(QUOTA_FIELDS)}


def spec(**overrides) -> TenantSpec:
    values = dict(
        project_id="prj_abc", organisation_id="org_x", organisation_name="Atlas SARL", request_id="req_1",
        region_id="rabat-1", cloud="sahab-devcloud", openstack_region="RegionOne", domain_id="default",
        environment="prod", quota=QUOTA, external_network="public", create_network=True,
    )
    values.update(overrides)
    return TenantSpec(**values)


def run(mocks, program_spec: TenantSpec, **kwargs):
    from stacks.tenant import tenant_program

    @pulumi.runtime.test
    def program():
        outputs = tenant_program(program_spec, "http://127.0.0.1:5000/v3", "s3cret", **kwargs)
        return pulumi.Output.all(*[v for v in outputs.values() if isinstance(v, pulumi.Output)])

    program()
    return mocks.resources


def test_resource_graph_has_deterministic_names(mocks):
    resources = run(mocks, spec())
    assert {name: typ for name, (typ, _, _) in resources.items() if name != "region"} == {
        "project": "openstack:identity/project:Project",
        "user": "openstack:identity/user:User",
        "user-member": "openstack:identity/roleAssignment:RoleAssignment",
        "compute-quota": "openstack:compute/quotaSetV2:QuotaSetV2",
        "volume-quota": "openstack:blockstorage/quoteSetV3:QuoteSetV3",
        "network-quota": "openstack:networking/quotaV2:QuotaV2",
        "network": "openstack:networking/network:Network",
        "subnet": "openstack:networking/subnet:Subnet",
        "router": "openstack:networking/router:Router",
        "router-subnet": "openstack:networking/routerInterface:RouterInterface",
    }
    project = resources["project"][1]
    assert project["name"] == "sahab-org_x-rabat-1-prod" and project["domainId"] == "default"
    assert "sahab-request=req_1" in project["tags"] and "sahab-organisation=org_x" in project["tags"]
    assert resources["user"][1]["name"] == "sahab-org_x-rabat-1-prod-user"
    assert resources["user-member"][1]["roleId"] == "role-member-id"
    assert resources["router"][1]["externalNetworkId"] == "external-net-id"


def test_every_quota_field_is_set_from_the_grant(mocks):
    resources = run(mocks, spec())
    service_resource = {"compute": "compute-quota", "block-storage": "volume-quota", "network": "network-quota"}
    camel = lambda field: "".join(p if i == 0 else p.title() for i, p in enumerate(field.split("_")))  # noqa: E731
    for name, (service, field) in QUOTA_FIELDS.items():
        inputs = resources[service_resource[service]][1]
        assert inputs[camel(field)] == QUOTA[name], (name, field)
        assert inputs["projectId"] == "project-id"
        assert inputs["region"] == "RegionOne"


def test_no_network_without_an_external_network(mocks):
    resources = run(mocks, spec(create_network=False))
    assert not {"network", "subnet", "router", "router-subnet"} & set(resources)


def test_adopts_objects_left_by_an_interrupted_create(mocks):
    from stacks.tenant import Adopt

    resources = run(mocks, spec(), adopt=Adopt(project_id="existing-project", user_id="existing-user"))
    assert resources["project"][2]["import"] == "existing-project"
    assert resources["user"][2]["import"] == "existing-user"
    assert resources["compute-quota"][2]["import"] is None
