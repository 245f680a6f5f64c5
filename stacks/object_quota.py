"""A Pulumi dynamic provider for the Swift account quota of one project (pulumi-openstack has none).

The quota is the account's X-Account-Meta-Quota-Bytes, enforced by Swift's account_quotas middleware
(uploads past it get 413). Only a reseller admin may set it: the provider acts as the region's admin
entry of clouds.yaml (inputs `cloud` and `region`: names, never secrets, since inputs live in the
stack's state), whose user holds the ResellerAdmin role.

The provider runs in a separate Python process the engine starts (`pulumi-resource-pulumi-python`,
stacks/bin): it is serialized with the program, so it imports what it needs inside its methods.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

GIB = 1024**3
QUOTA_HEADER = "X-Account-Meta-Quota-Bytes"


def _account(cloud: str, region: str, project_id: str) -> tuple[Any, str]:
    """An admin connection and the project's account URL (the object-store endpoint names the
    admin's own account: the project's is the same URL with its id)."""
    import openstack

    conn = openstack.connect(cloud=cloud, region_name=region)
    endpoint = conn.endpoint_for("object-store")
    base = endpoint.rsplit("/AUTH_", 1)[0]
    return conn, f"{base}/AUTH_{project_id}"


def set_quota(cloud: str, region: str, project_id: str, quota_gib: int) -> str:
    """Sets the quota; returns the S3 endpoint (the proxy's root, where s3api answers)."""
    conn, url = _account(cloud, region, project_id)
    response = conn.session.post(url, headers={QUOTA_HEADER: str(int(quota_gib) * GIB)}, raise_exc=False)
    if response.status_code not in (201, 202, 204):
        raise RuntimeError(
            f"setting the object quota of {project_id} failed: HTTP {response.status_code} {response.text[:200]}"
        )
    return url.split("/v1/", 1)[0]


def read_account(cloud: str, region: str, project_id: str) -> dict[str, int] | None:
    """The account's quota (bytes, -1 = none) and usage, or None when the account is gone."""
    conn, url = _account(cloud, region, project_id)
    response = conn.session.head(url, raise_exc=False)
    if response.status_code == 404:
        return None
    if response.status_code not in (200, 204):
        raise RuntimeError(f"reading the account of {project_id} failed: HTTP {response.status_code}")
    headers = response.headers
    return {
        "quota_bytes": int(headers.get(QUOTA_HEADER, -1)),
        "bytes": int(headers.get("X-Account-Bytes-Used", 0)),
        "objects": int(headers.get("X-Account-Object-Count", 0)),
        "containers": int(headers.get("X-Account-Container-Count", 0)),
    }


class AccountQuotaProvider(ResourceProvider):
    """create/update set the quota, read reports what the account says (refresh finds drift), delete
    sets it to 0 (the account and its data stay: Sahab never deletes objects)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        endpoint = set_quota(props["cloud"], props["region"], props["project_id"], props["quota_gib"])
        return CreateResult(id_=f"AUTH_{props['project_id']}", outs={**props, "endpoint": endpoint})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("project_id", "quota_gib", "cloud", "region") if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changed),
            replaces=["project_id"] if "project_id" in changed else [],
            delete_before_replace=False,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        endpoint = set_quota(news["cloud"], news["region"], news["project_id"], news["quota_gib"])
        return UpdateResult(outs={**news, "endpoint": endpoint})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        account = read_account(props["cloud"], props["region"], props["project_id"])
        if account is None:
            return ReadResult(id_=None, outs={})
        quota = account["quota_bytes"]
        # Whole GiB as Sahab grants them; anything else (no quota, a byte count set by hand) is drift.
        quota_gib = quota // GIB if quota >= 0 and quota % GIB == 0 else -1
        return ReadResult(id_=id_, outs={**props, "quota_gib": quota_gib})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        try:
            set_quota(props["cloud"], props["region"], props["project_id"], 0)
        except RuntimeError:
            if read_account(props["cloud"], props["region"], props["project_id"]) is not None:
                raise


class AccountQuota(Resource):
    """The Swift account quota of one project, in GiB."""

    quota_gib: pulumi.Output[int]
    endpoint: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        cloud: str,
        region: str,
        project_id: pulumi.Input[str],
        quota_gib: pulumi.Input[int],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            AccountQuotaProvider(),
            name,
            {"cloud": cloud, "region": region, "project_id": project_id, "quota_gib": quota_gib, "endpoint": None},
            opts,
        )
