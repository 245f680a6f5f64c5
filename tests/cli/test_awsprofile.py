"""`sahab projects credentials ID --s3-profile NAME`: the aws-cli profile it writes."""

from __future__ import annotations

import configparser
import stat

import pytest

from cli.awsprofile import s3_section, write_profile
from cli.errors import CliError

S3 = {"endpoint": "http://127.0.0.1:8890", "access_key": "AK", "secret_key": "SK", "region": "RegionOne"}


@pytest.fixture
def aws(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    return tmp_path / "aws"


def read(path):
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


def test_profile_is_written_private_and_keeps_other_profiles(aws):
    aws.mkdir()
    (aws / "credentials").write_text("[other]\naws_access_key_id = X\naws_secret_access_key = Y\n")
    credentials, config = write_profile("atlas", S3)
    assert (
        read(credentials)["atlas"]["aws_secret_access_key"] == "SK"
        and read(credentials)["other"]["aws_access_key_id"] == "X"
    )
    section = read(config)["profile atlas"]
    assert (section["region"], section["endpoint_url"]) == ("RegionOne", "http://127.0.0.1:8890")
    assert section["s3"].split() == ["addressing_style", "=", "path"]
    assert section["request_checksum_calculation"] == "when_required"
    for path in (credentials, config):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_profile("atlas", {**S3, "secret_key": "SK2"})  # again: replaced, not repeated
    assert read(credentials)["atlas"]["aws_secret_access_key"] == "SK2"


def test_boto3_reads_the_profile(aws):
    import boto3

    write_profile("default", S3)
    session = boto3.Session(profile_name="default")
    assert session.get_credentials().secret_key == "SK" and session.region_name == "RegionOne"
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:8890"


def test_refused_without_object_storage_or_with_a_bad_name(aws):
    with pytest.raises(CliError) as no_s3:
        s3_section({"clouds": {"sahab-rabat-1-prod": {"auth": {}}}})
    assert no_s3.value.exit_code == 2 or "object storage" in no_s3.value.detail
    with pytest.raises(CliError):
        write_profile("bad name!", S3)
    assert not aws.exists()
