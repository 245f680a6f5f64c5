"""The SSRF rule: every address a webhook host resolves to must be public unless the operator allow-lists it."""

from __future__ import annotations

import ipaddress

import pytest

from controlplane.errors import InvalidInput, WebhookTargetRefused, WebhookTargetUnresolved
from controlplane.webhooks.targets import TargetPolicy, why_refused
from tests.support.webhooks import StaticResolver

PUBLIC = "93.184.215.14"

# Each of these reaches the machine itself, its network or the cloud's metadata service.
REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.5/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[::]/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[2002:7f00:1::1]/hook",
    "https://localhost.:8443/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_internal_addresses_are_refused_whatever_their_spelling(url):
    with pytest.raises(WebhookTargetRefused) as refused:
        TargetPolicy().resolve(url)  # numeric forms are read as addresses; localhost is in /etc/hosts
    assert "SAHAB_ALERT_WEBHOOK_ALLOWED_TARGETS" in refused.value.detail


def test_a_name_is_refused_when_any_of_its_addresses_is_internal():
    resolver = StaticResolver({"hooks.example": [PUBLIC, "10.1.2.3"]})
    with pytest.raises(WebhookTargetRefused, match="10.1.2.3 is private"):
        TargetPolicy(resolver=resolver).resolve("https://hooks.example/sahab")


def test_a_public_name_is_pinned_to_the_address_that_was_checked():
    target = TargetPolicy(resolver=StaticResolver({"hooks.example": [PUBLIC]})).resolve("https://Hooks.Example/sahab")
    assert (target.host, target.port, target.address, target.scheme) == ("hooks.example", 443, PUBLIC, "https")


def test_the_allow_list_takes_cidrs_and_host_names():
    policy = TargetPolicy(
        ["127.0.0.0/8", "receiver.internal"],
        resolver=StaticResolver({"receiver.internal": ["10.9.9.9"], "other.internal": ["10.9.9.9"]}),
    )
    assert policy.resolve("http://127.0.0.1:8080/hook").address == "127.0.0.1"
    assert policy.resolve("http://2130706433/hook").address == "127.0.0.1"
    assert policy.resolve("http://receiver.internal/hook").address == "10.9.9.9"
    with pytest.raises(WebhookTargetRefused):
        policy.resolve("http://other.internal/hook")
    with pytest.raises(WebhookTargetRefused):
        policy.resolve("http://[::1]/hook")  # ::1 is not in 127.0.0.0/8


def test_malformed_allow_list_entries_are_refused():
    with pytest.raises(ValueError, match="neither a CIDR nor a host name"):
        TargetPolicy(["10.0.0.0/33"])


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://hooks.example/x", "absolute http"),
        ("https://user:pw@hooks.example/x", "credentials"),
        ("https://hooks.example:99999/x", "not valid"),
        ("https://hooks.example/" + "x" * 2000, "at most 2000"),
    ],
)
def test_malformed_urls_are_invalid_input(url, message):
    with pytest.raises(InvalidInput, match=message):
        TargetPolicy(resolver=StaticResolver({"hooks.example": [PUBLIC]})).resolve(url)


def test_a_name_that_does_not_resolve_is_told_apart():
    with pytest.raises(WebhookTargetUnresolved):
        TargetPolicy(resolver=StaticResolver({})).resolve("https://nowhere.example/x")


def test_why_refused_names_the_kind_of_address():
    assert why_refused(ipaddress.ip_address(PUBLIC)) is None
    assert why_refused(ipaddress.ip_address("2606:4700::1111")) is None
    assert why_refused(ipaddress.ip_address("::ffff:7f00:1")) == "127.0.0.1 is loopback (embedded in ::ffff:7f00:1)"
    assert why_refused(ipaddress.ip_address("169.254.169.254")) == "169.254.169.254 is link-local"
    assert why_refused(ipaddress.ip_address("0.0.0.0")) == "0.0.0.0 is unspecified"


def test_a_malformed_allow_list_setting_stops_the_start(tmp_path):
    from pydantic import ValidationError

    from controlplane.settings import Settings

    with pytest.raises(ValidationError, match="'10.0.0.0/33' is neither a CIDR nor a host name"):
        Settings(data_dir=tmp_path, alert_webhook_allowed_targets=["10.0.0.0/33"])
    assert Settings(data_dir=tmp_path, alert_webhook_allowed_targets=["127.0.0.1/32", "hooks.internal"])
