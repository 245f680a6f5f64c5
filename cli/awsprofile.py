"""Write an aws-cli profile (~/.aws/credentials and ~/.aws/config) from a project's S3 credentials.

Other profiles in those files are kept; both files are rewritten with mode 0600. The config names
the S3 endpoint (`endpoint_url`, read by aws-cli >= 2.13 and boto3 >= 1.28; older ones need
`--endpoint-url`), path-style addressing and checksums only where required (Swift 2.30's s3api
does not understand the aws-chunked uploads newer clients send by default).
"""

from __future__ import annotations

import configparser
import io
import os
import re
from pathlib import Path
from typing import Any

from cli.config import write_private
from cli.errors import usage
from cli.i18n import _

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def aws_files() -> tuple[Path, Path]:
    """Where aws-cli and boto3 look: AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, else ~/.aws/."""
    home = Path.home() / ".aws"
    return (
        Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials"),
        Path(os.environ.get("AWS_CONFIG_FILE") or home / "config"),
    )


def s3_section(document: dict[str, Any]) -> dict[str, Any]:
    """The one cloud's `s3` section of a credentials document, or a usage error saying why not."""
    clouds = document.get("clouds") or {}
    sections = [entry["s3"] for entry in clouds.values() if isinstance(entry, dict) and entry.get("s3")]
    if not sections:
        raise usage(
            _("this project has no object storage (no S3 credentials): ask for object_gib in a region that offers it")
        )
    section: dict[str, Any] = sections[0]
    return section


def write_profile(name: str, s3: dict[str, Any]) -> tuple[Path, Path]:
    if not _PROFILE_NAME.match(name):
        raise usage(
            _("--s3-profile: {name} is not a profile name (letters, digits, '.', '_', '-', at most 64)").format(
                name=repr(name)
            )
        )
    credentials, config = aws_files()
    _update(credentials, name, {"aws_access_key_id": s3["access_key"], "aws_secret_access_key": s3["secret_key"]})
    _update(
        config,
        name if name == "default" else f"profile {name}",
        {
            "region": s3["region"],
            "endpoint_url": s3["endpoint"],
            "s3": "\naddressing_style = path",
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        },
    )
    return credentials, config


def _update(path: Path, section: str, values: dict[str, str]) -> None:
    parser = configparser.RawConfigParser()
    if path.exists():
        parser.read(path)
    if parser.has_section(section):
        parser.remove_section(section)
    parser.add_section(section)
    for key, value in values.items():
        parser.set(section, key, value)
    out = io.StringIO()
    parser.write(out)
    write_private(path, out.getvalue())
