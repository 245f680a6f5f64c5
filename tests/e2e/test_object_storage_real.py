"""Object storage for real: a request with object_gib provisions the Swift account quota (the
tenant stack's dynamic provider) and S3 credentials; boto3 uses them against the local cloud's
Swift (s3api + s3token through Keystone); Swift refuses an upload past the quota."""

from __future__ import annotations

import uuid

import openstack
import pytest

from controlplane.composition import build_worker
from controlplane.settings import Settings
from tests.support.e2e import wait_for
from tests.support.fakes import RecordingQueue
from tests.support.objects import GIB, account_url, put_declared, read_object_quota, s3_client, set_object_quota
from tests.support.tenants import ask, read_quota
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.devcloud,
    pytest.mark.pulumi,
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.timeout(1200),
]
FINAL = {"active", "failed", "rejected", "cancelled"}


def test_object_gib_provisions_a_quota_and_s3_credentials_that_work(
    sahab, api, tenant, cloud, issuer, postgres_url, tmp_path
):
    owner, org = tenant
    operator = issuer.headers("omar", roles=("operator", "approver"), lifetime=3600)
    sahab.start_worker("w1")
    created = ask(api, owner, org, "obj", object_gib=1, vcpus=1)
    request = wait_for(api, owner, created["id"], FINAL, 600)
    assert request["state"] == "active", (request, sahab.log("w1"))
    project = api.get(f"/v1/projects/{request['project_id']}", headers=owner).json()
    pid = project["openstack_project_id"]
    assert read_quota(cloud, pid) == request["amounts"]
    assert cloud.session.head(account_url(cloud, pid)).headers["X-Account-Meta-Quota-Bytes"] == str(GIB)

    (entry,) = api.get(f"/v1/projects/{project['id']}/credentials", headers=owner).json()["clouds"].values()
    s3 = entry["s3"]
    assert s3["endpoint"] == "http://127.0.0.1:8890" and s3["region"] == "RegionOne" and len(s3["secret_key"]) >= 16
    for leak in (str(project), sahab.log("w1", tail=None), api.get("/metrics").text):
        assert s3["secret_key"] not in leak

    client = s3_client(s3["endpoint"], s3["access_key"], s3["secret_key"], s3["region"])
    bucket = f"e2e-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="hello.txt", Body=b"x" * 4096)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["hello.txt"]

    # Past the quota: Swift's account_quotas refuses with 413 (through s3api the same refusal is
    # S3's 400 EntityTooLarge).
    user = openstack.connect(
        auth=entry["auth"],
        region_name=entry["region_name"],
        auth_type="password",
        identity_api_version="3",
        api_timeout=60,
        load_yaml_config=False,
        load_envvars=False,
    )
    assert put_declared(f"{account_url(cloud, pid)}/{bucket}/big.bin", user.auth_token, GIB + 1) == 413

    # Metering: the account's HEAD gives usage (1 GiB: any byte rounds up) and the quota.
    meter = metering_runtime(postgres_url, issuer, tmp_path)
    try:
        wait_until(
            lambda: int(cloud.session.head(account_url(cloud, pid)).headers["X-Account-Bytes-Used"]) > 0,
            120,
            "the object's bytes counted",
            1,
        )
        result = meter.metering.collect()
        assert project["id"] not in result.failed, result.failed
        usage = {row["project_id"]: row for row in api.get("/v1/usage", headers=owner).json()}
        assert usage[project["id"]]["used"]["object_gib"] == 1, usage
        (region_used,) = [
            line
            for line in api.get("/metrics").text.splitlines()
            if line.startswith("sahab_region_used{")
            and 'region="rabat-1"' in line
            and 'resource="object_bytes"' in line
        ]
        assert float(region_used.rsplit(" ", 1)[1]) == GIB

        # A decrease below the measured use is refused, with the use.
        lower = api.post(
            "/v1/quota-requests",
            headers=owner,
            json={
                "organisation_id": org,
                "region": "rabat-1",
                "environment": "obj",
                "preset": "small",
                "amounts": {"object_gib": 0, "vcpus": 1},
                "justification": "shrink",
            },
        )
        assert lower.status_code == 201, lower.text
        assert lower.json()["state"] == "rejected" and "object_gib requested 0, in use 1" in lower.json()["reason"], (
            lower.json()
        )

        # Drift: the quota changed behind Sahab's back is found, and repaired by re-applying the stack.
        set_object_quota(cloud, pid, 5)
        meter.metering.collect()
        drift = api.get("/v1/drift", headers=operator).json()
        mine = [d for d in drift if d["project_id"] == project["id"]]
        assert [(d["kind"], d["resource"], d["granted"], d["quota"]) for d in mine] == [
            ("quota_changed", "object_gib", 1, 5)
        ], mine
        assert api.post(f"/v1/projects/{project['id']}/repair", headers=operator).status_code == 202
        wait_until(lambda: read_object_quota(cloud, pid) == 1, 300, "the object quota of 1 GiB", 1)

        # Decommission is refused while the account holds data, and goes once it is emptied.
        refused = api.post(f"/v1/projects/{project['id']}/decommission", headers=owner)
        assert refused.status_code == 409 and "still holds data (1 GiB" in refused.text, refused.text
        client.delete_object(Bucket=bucket, Key="hello.txt")
        client.delete_bucket(Bucket=bucket)
        wait_until(
            lambda: cloud.session.head(account_url(cloud, pid)).headers["X-Account-Bytes-Used"] == "0",
            120,
            "the account emptied",
            1,
        )
        meter.metering.collect()
    finally:
        meter.engine.dispose()
    decommission = api.post(f"/v1/projects/{project['id']}/decommission", headers=owner)
    assert decommission.status_code == 200, decommission.text
    assert wait_for(api, owner, created["id"], {"decommissioned"}, 600)["state"] == "decommissioned"
    assert read_object_quota(cloud, pid) == 0  # the stack's delete set it to 0; no object was removed by Sahab


def metering_runtime(database_url: str, issuer, tmp_path):
    """The collection, run here on the stack's database (the beat is not started in these tests)."""
    runtime = build_worker(
        Settings(
            database_url=database_url,
            data_dir=tmp_path / "meter",
            oidc_issuer=issuer.url,
            broker_url="memory://",
            demo_accounts=False,
        ),
        queue=RecordingQueue(),
    )
    return runtime
