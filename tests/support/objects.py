"""Swift accounts and S3 clients for the tests against the local cloud's object storage."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

GIB = 1024**3


def account_url(cloud: Any, project_id: str) -> str | None:
    """The project's Swift account URL in the connection's region; None where Swift is not offered."""
    try:
        endpoint = cloud.endpoint_for("object-store")
    except Exception:  # no object-store endpoint in this region's catalog
        return None
    return f"{endpoint.rsplit('/AUTH_', 1)[0]}/AUTH_{project_id}" if endpoint else None


def set_object_quota(cloud: Any, project_id: str, gib: int) -> None:
    """As Swift's reseller admin (the devcloud's admin holds ResellerAdmin), behind Sahab's back."""
    url = account_url(cloud, project_id)
    assert url is not None, "this region has no object-store endpoint"
    cloud.session.post(url, headers={"X-Account-Meta-Quota-Bytes": str(gib * 1024**3)}).raise_for_status()


def read_object_quota(cloud: Any, project_id: str) -> int:
    """The account quota in GiB (0 where the region has no Swift or no quota was ever set)."""
    url = account_url(cloud, project_id)
    if url is None:
        return 0
    quota = cloud.session.head(url).headers.get("X-Account-Meta-Quota-Bytes")
    return int(quota) // 1024**3 if quota is not None else 0


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


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = "RegionOne") -> Any:
    """boto3 >= 1.36 adds CRC checksums (aws-chunked uploads) by default, which Swift 2.30's s3api
    does not understand: checksums only when an operation requires them; path-style addressing."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
