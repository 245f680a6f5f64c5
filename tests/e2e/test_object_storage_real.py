"""Object storage for real: a request with object_gib provisions the Swift account quota (the
tenant stack's dynamic provider) and S3 credentials; boto3 uses them against the local cloud's
Swift (s3api + s3token through Keystone); Swift refuses an upload past the quota."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlsplit

import boto3
import openstack
import pytest
from botocore.config import Config

from tests.e2e.conftest import wait_for
from tests.support.tenants import account_url, ask, read_quota

pytestmark = [pytest.mark.devcloud, pytest.mark.pulumi, pytest.mark.postgres, pytest.mark.rabbitmq,
              pytest.mark.timeout(1200)]
FINAL = {"active", "failed", "rejected", "cancelled"}
GIB = 1024**3


def s3_client(s3: dict):
    # boto3 >= 1.36 adds CRC checksums (aws-chunked uploads) by default, which Swift 2.30's s3api
    # does not understand: checksums only when an operation requires them.
    return boto3.client(
        "s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"],
        region_name=s3["region"], config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                                response_checksum_validation="when_required", retries={"max_attempts": 2}))


def put_declared(url: str, token: str, length: int) -> int:
    """A Swift PUT that declares `length` bytes and sends none: account_quotas answers from the header."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest("PUT", parts.path)
        connection.putheader("X-Auth-Token", token)
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_object_gib_provisions_a_quota_and_s3_credentials_that_work(sahab, api, tenant, cloud):
    owner, org = tenant
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

    client = s3_client(s3)
    bucket = f"e2e-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="hello.txt", Body=b"x" * 4096)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["hello.txt"]

    # Past the quota: Swift's account_quotas refuses with 413 (through s3api the same refusal is
    # S3's 400 EntityTooLarge).
    user = openstack.connect(auth=entry["auth"], region_name=entry["region_name"], auth_type="password",
                             identity_api_version="3", api_timeout=60, load_yaml_config=False, load_envvars=False)
    assert put_declared(f"{account_url(cloud, pid)}/{bucket}/big.bin", user.auth_token, GIB + 1) == 413

    client.delete_object(Bucket=bucket, Key="hello.txt")
    client.delete_bucket(Bucket=bucket)
    decommission = api.post(f"/v1/projects/{project['id']}/decommission", headers=owner)
    assert decommission.status_code == 200, decommission.text
    assert wait_for(api, owner, created["id"], {"decommissioned"}, 300)["state"] == "decommissioned"
