"""The tenant stack program under Pulumi's own mocks: no engine, no cloud."""

from __future__ import annotations

import asyncio

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
    # Pulumi's mocks run on the thread's current event loop; a test before this one (asyncio.run,
    # an ASGI client) may have closed and unset it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="sahab", stack="prj_test", preview=False)
    yield recorder
    asyncio.set_event_loop(None)
    loop.close()


QUOTA = {name: 10 + i for i, name in enumerate(QUOTA_FIELDS)}


def spec(**overrides) -> TenantSpec:
    values = dict(
        project_id="prj_abc",
        organisation_id="org_x",
        organisation_name="Atlas SARL",
        request_id="req_1",
        region_id="rabat-1",
        cloud="sahab-devcloud",
        openstack_region="RegionOne",
        domain_id="default",
        environment="prod",
        quota=QUOTA,
        external_network="public",
        create_network=True,
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
    resources = run(mocks, spec(object_storage=True))
    service_resource = {
        "compute": "compute-quota",
        "block-storage": "volume-quota",
        "network": "network-quota",
        "object-store": "object-quota",
    }
    camel = lambda field: "".join(p if i == 0 else p.title() for i, p in enumerate(field.split("_")))  # noqa: E731
    for name, (service, field) in QUOTA_FIELDS.items():
        inputs = resources[service_resource[service]][1]
        if service == "object-store":  # the dynamic provider's own inputs (snake case)
            assert (inputs[field], inputs["project_id"], inputs["region"]) == (QUOTA[name], "project-id", "RegionOne")
            continue
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


class FakeCloud:
    """CloudAccess over canned objects (what an interrupted create left), counting connections."""

    def __init__(self, **objects: list) -> None:
        from types import SimpleNamespace as NS

        self.auth_url = "http://127.0.0.1:5000/v3"
        self.connections = 0

        def listing(kind):
            return lambda **query: [
                o for o in objects.get(kind, []) if all(getattr(o, k) == v for k, v in query.items())
            ]

        find = lambda kind: lambda name, **_: next((o for o in objects.get(kind, []) if o.name == name), None)  # noqa: E731
        self.conn = NS(
            identity=NS(find_project=find("projects"), find_user=find("users")),
            network=NS(
                networks=listing("networks"),
                subnets=listing("subnets"),
                routers=listing("routers"),
                ports=listing("ports"),
            ),
        )

    def connect(self):
        from contextlib import nullcontext

        self.connections += 1
        return nullcontext(self.conn)


def test_the_program_registry_finds_programs_by_name():
    from stacks import find_program
    from stacks.tenant import PROGRAM

    assert find_program("tenant") is PROGRAM and PROGRAM.project == "sahab-tenants"
    with pytest.raises(LookupError, match="no stack program named 'nope'"):
        find_program("nope")


def test_lost_objects_are_found_by_their_names_on_the_cloud():
    from types import SimpleNamespace as NS

    from stacks.tenant import PROGRAM, Adopt, network_names

    s = spec()
    names = network_names(s)
    cloud = FakeCloud(
        projects=[NS(id="p1", name=s.openstack_project_name)],
        users=[NS(id="u1", name=s.user_name)],
        networks=[NS(id="n1", name=names["network"], project_id="p1")],
        subnets=[NS(id="s1", name=names["subnet"], project_id="p1")],
        routers=[
            NS(id="r1", name=names["router"], project_id="p1"),
            NS(id="r2", name=names["router"], project_id="other"),
        ],
        ports=[NS(id="port1", device_id="r1", fixed_ips="subnet_id=s1")],
    )
    assert PROGRAM.lost_objects(s, {}, cloud) == Adopt("p1", "u1", "n1", "s1", "r1", "port1")
    # What the state still holds is neither looked up nor adopted.
    assert PROGRAM.lost_objects(s, {"project": "p1", "user": "u1"}, cloud) == Adopt(
        None, None, "n1", "s1", "r1", "port1"
    )
    connections = cloud.connections
    complete = {name: "x" for name in ("project", "user", "network", "subnet", "router", "router-subnet")}
    assert PROGRAM.lost_objects(s, complete, cloud) == Adopt()
    assert cloud.connections == connections, "a complete state needs no cloud call"


def test_outputs_carry_the_password_and_an_incomplete_stack_has_none():
    from stacks.tenant import PROGRAM

    raw = {
        "project_id": "p1",
        "user_name": "u",
        "auth_url": "http://k/v3",
        "region": "RegionOne",
        "network_id": "n1",
        "password": "s3cret",
    }
    outputs = PROGRAM.outputs(raw)
    assert outputs.openstack_project_id == "p1" and outputs.password == "s3cret"
    assert "s3cret" not in repr(outputs)
    assert PROGRAM.outputs({}) is None


def test_object_storage_adds_the_account_quota_and_s3_credentials(mocks):
    resources = run(mocks, spec(object_storage=True, quota={**QUOTA, "object_gib": 7}))
    typ, inputs, _ = resources["object-quota"]
    assert typ == "pulumi-python:dynamic:Resource"
    assert (inputs["cloud"], inputs["region"], inputs["project_id"], inputs["quota_gib"]) == (
        "sahab-devcloud",
        "RegionOne",
        "project-id",
        7,
    )
    typ, inputs, _ = resources["s3-credential"]
    assert typ == "openstack:identity/ec2CredentialV3:Ec2CredentialV3"
    assert (inputs["userId"], inputs["projectId"]) == ("user-id", "project-id")


def test_no_object_storage_where_the_region_has_none(mocks):
    resources = run(mocks, spec(object_storage=False))
    assert "object-quota" not in resources and "s3-credential" not in resources
