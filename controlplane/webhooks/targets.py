"""Which addresses a webhook may reach (the SSRF rule), checked at save time and again at every delivery.

A webhook URL names a host chosen by an organisation admin; the POST is sent from inside the platform.
So the host is resolved, and every address it resolves to must be public: loopback, private,
link-local, multicast, reserved, unspecified and shared (CGNAT) addresses are refused, including their
IPv4-mapped, 6to4 and Teredo IPv6 forms, unless the operator allow-lists them
(SAHAB_ALERT_WEBHOOK_ALLOWED_TARGETS: CIDRs or host names). Integer, octal and hex IPv4 spellings
(2130706433, 0177.0.0.1, 0x7f.1) are read as the address they denote, as a resolver would.
The delivery then connects to the address that was checked (see http.py), so a DNS answer that
changes between the check and the connection cannot redirect it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from controlplane.errors import Detail, InvalidInput, WebhookTargetRefused, WebhookTargetUnresolved

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
MAX_URL_LENGTH = 2000  # organisations.alert_webhook_url holds 2,000 characters


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: connect to `address`, send Host/SNI `host`."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def why_refused(address: IPAddress) -> str | None:
    """The reason an address may not be reached without an allow-list entry, None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = why_refused(embedded)
            return f"{reason} (embedded in {address})" if reason else None
    for label, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flagged:
            return f"{address} is {label}"
    if not address.is_global:  # e.g. shared address space 100.64.0.0/10
        return f"{address} is not a public address"
    return None


class TargetPolicy:
    """Checks webhook URLs. `allowed` entries are CIDRs/addresses or exact host names (an operator's
    own receivers on a private network, or a test receiver on loopback)."""

    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        for entry in allowed:
            entry = entry.strip()
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not entry or "/" in entry or ":" in entry:
                    raise ValueError(f"allowed webhook target {entry!r} is neither a CIDR nor a host name") from None
                self.hosts.add(entry.lower().rstrip("."))
        self.resolver = resolver

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of a well-formed absolute http(s) URL; the address is not checked here."""
        if len(url) > MAX_URL_LENGTH:
            raise InvalidInput(
                Detail(
                    "url must be at most {max_length} characters, got {length}",
                    max_length=MAX_URL_LENGTH,
                    length=len(url),
                )
            )
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as error:
            raise InvalidInput(Detail("url is not valid: {error}", error=error)) from None
        if parts.scheme not in ("https", "http") or not host:
            raise InvalidInput(Detail("url must be an absolute http(s) URL, got {url!r}", url=url))
        if parts.username is not None or parts.password is not None:
            raise InvalidInput(
                Detail("url must not carry credentials; the body is signed with the webhook secret instead")
            )
        return parts.scheme, host.lower().rstrip("."), port or (443 if parts.scheme == "https" else 80)

    def resolve(self, url: str, timeout: float = 5.0) -> Target:
        """Resolve the URL's host and check every address; the Target pins the first one.
        Raises WebhookTargetRefused (a refused address) or WebhookTargetUnresolved (no answer within timeout)."""
        scheme, host, port = self.check_url(url)
        literal = _literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            addresses = self._lookup(host, port, timeout)
        if not addresses:
            raise WebhookTargetUnresolved(Detail("{host} resolves to no address", host=host))
        if host not in self.hosts:
            for address in addresses:
                parsed = ipaddress.ip_address(address.split("%", 1)[0])
                reason = why_refused(parsed)
                if reason and not any(parsed in network for network in self.networks):
                    raise WebhookTargetRefused(
                        Detail(
                            "webhook host {host} resolves to {reason}; only public addresses "
                            "may be used unless the operator allow-lists them "
                            "(SAHAB_ALERT_WEBHOOK_ALLOWED_TARGETS)",
                            host=host,
                            reason=reason,
                        )
                    )
        return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])

    def _lookup(self, host: str, port: int, timeout: float) -> list[str]:
        # getaddrinfo has no timeout of its own: bound it, leaving a stuck lookup to finish in its thread.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-dns")
        try:
            return pool.submit(self.resolver, host, port).result(timeout=max(timeout, 0.001))
        except FutureTimeout:
            raise WebhookTargetUnresolved(
                Detail("{host} did not resolve within {timeout:.1f}s", host=host, timeout=timeout)
            ) from None
        except (OSError, UnicodeError) as error:
            raise WebhookTargetUnresolved(Detail("{host} does not resolve: {error}", host=host, error=error)) from None
        finally:
            pool.shutdown(wait=False)


def _literal(host: str) -> IPAddress | None:
    """An address written in the URL, including the integer, octal and hex IPv4 forms inet_aton accepts
    (2130706433, 0x7f.1, 0177.0.0.1, 127.1): these never go to a resolver."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and set(host) <= set("0123456789abcdefx.") and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
