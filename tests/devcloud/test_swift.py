"""Swift in the local OpenStack, as Sahab relies on it: the reseller admin sets an account quota,
a project user's EC2 credentials work with boto3 through s3api + s3token, Swift refuses an
upload past the quota with 413, the account HEAD counts what is stored, and RegionTwo offers
no object storage."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.support.objects import account_url, put_declared, read_object_quota, s3_client, set_object_quota

pytestmark = pytest.mark.devcloud


def test_account_quota_s3_credentials_and_413(admin):
    import openstack

    name = f"sahab-swift-test-{uuid.uuid4().hex[:10]}"
    project = admin.identity.create_project(name=name, domain_id="default")
    user = admin.identity.create_user(
        name=name, password=f"pw-{name}", domain_id="default", default_project_id=project.id
    )
    credential = None
    s3 = bucket = None
    try:
        admin.identity.assign_project_role_to_user(project, user, admin.identity.find_role("member"))
        keys = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex}
        credential = admin.identity.create_credential(
            type="ec2", user_id=user.id, project_id=project.id, blob=json.dumps(keys)
        )
        set_object_quota(admin, project.id, 1)
        assert read_object_quota(admin, project.id) == 1
        account = account_url(admin, project.id)

        s3 = s3_client(account.split("/v1/")[0], keys["access"], keys["secret"])
        bucket = f"t-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="a", Body=b"y" * 2048)
        assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"y" * 2048

        deadline = time.monotonic() + 30  # the container updater carries the bytes to the account
        while (head := admin.session.head(account).headers)["X-Account-Bytes-Used"] != "2048":
            assert time.monotonic() < deadline, dict(head)
            time.sleep(0.5)
        assert (head["X-Account-Object-Count"], head["X-Account-Container-Count"]) == ("1", "1")

        member = openstack.connect(
            auth_url="http://127.0.0.1:5000/v3",
            username=name,
            password=f"pw-{name}",
            project_id=project.id,
            user_domain_name="Default",
            region_name="RegionOne",
            load_yaml_config=False,
            load_envvars=False,
        )
        assert put_declared(f"{account}/{bucket}/big", member.auth_token, 1024**3) == 413
        set_object_quota(admin, project.id, 0)
        with pytest.raises(ClientError) as too_large:  # the same refusal through s3api: S3's 400 EntityTooLarge
            s3.put_object(Bucket=bucket, Key="b", Body=b"z" * 4096)
        assert too_large.value.response["Error"]["Code"] == "EntityTooLarge"
        # only a reseller admin sets quotas: the project's own user may not
        assert (
            member.session.post(account, headers={"X-Account-Meta-Quota-Bytes": "1"}, raise_exc=False).status_code
            == 403
        )
    finally:
        if s3 is not None and bucket is not None:
            for key in ("a", "b"):
                try:
                    s3.delete_object(Bucket=bucket, Key=key)
                except ClientError:
                    pass
            s3.delete_bucket(Bucket=bucket)
        if credential is not None:
            admin.identity.delete_credential(credential)
        admin.identity.delete_user(user)
        admin.identity.delete_project(project)


def test_region_two_has_no_object_store(clouds_yaml_path):
    import openstack

    if "sahab-devcloud-regiontwo" not in clouds_yaml_path.read_text():
        pytest.skip("RegionTwo is off")
    two = openstack.connect(cloud="sahab-devcloud-regiontwo", api_timeout=60)
    assert account_url(two, "anything") is None
