"""SSRF rules for webhook URLs: which URLs are acceptable and which addresses may be called.

A URL must be plain `http(s)://host[:port]/path?query` with no credentials, no backslashes,
whitespace or non-ASCII characters, and an IPv4 literal only in canonical dotted-decimal form
(`http://2130706433/` or `http://0x7f.1/` mean 127.0.0.1 to some parsers and are refused). The
host is resolved once per attempt, every address it resolves to must be allowed, and the request
then goes to the first one, with `Host` (and, for https, SNI) set to the name: a second lookup
that could answer differently (DNS rebinding) never happens.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias
from urllib.parse import urlsplit

import trio

from polymon.errors import BadRequest, UnsafeUrl

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text.
Resolver: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_CHARS: Final = 2048
DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_BROADCAST: Final = ipaddress.IPv4Address("255.255.255.255")
_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# Refused even where `ipaddress` calls them global: its tables differ between Python patch
# releases (3.11.7 still calls fec0::/10 and 64:ff9b:1::/48 global).
_ALSO_BLOCKED: Final = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
    )
)
_LABEL: Final = re.compile(r"[a-z0-9_-]{1,63}")
# WHATWG URL parsers read a host whose last label is a number as an IPv4 address.
_NUMERIC_LABEL: Final = re.compile(r"0x[0-9a-f]*|[0-9]+")
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What webhook URLs may reach: private addresses (off by default) and ports (empty = any)."""

    allow_private: bool = False
    allowed_ports: frozenset[int] = field(default_factory=lambda: frozenset({80, 443}))


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """A webhook URL that passed the syntactic checks.

    host: the lower-case host name (no trailing dot), or the IP literal without brackets.
    target: path and query ("/" at least); a fragment is dropped.
    literal: the address when the host is an IP literal, else None.
    """

    scheme: str
    host: str
    port: int
    target: str
    literal: IPAddress | None

    @property
    def host_header(self) -> str:
        """The `Host` header: the name as written, with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Target:
    """A vetted destination: the URL and the one address the request goes to."""

    url: WebhookUrl
    ip: IPAddress

    @property
    def request_url(self) -> str:
        """The URL with the vetted address in place of the name."""
        host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{self.url.scheme}://{host}:{self.url.port}{self.url.target}"

    @property
    def extensions(self) -> dict[str, str]:
        """httpx request extensions: TLS SNI (and certificate checks) use the name, not the IP."""
        if self.url.scheme == "https" and self.url.literal is None:
            return {"sni_hostname": self.url.host}
        return {}


def forbidden_reason(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not be sent to `ip`, or None when it may.

    Public unicast only; with `allow_private`, loopback, private, link-local, CGNAT and the like
    are allowed too, but never unspecified, multicast or broadcast addresses. IPv4 addresses
    embedded in IPv6 (mapped, 6to4, NAT64) are judged as the IPv4 address.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "an address with a zone id"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = forbidden_reason(embedded, allow_private=allow_private)
            return None if inner is None else f"{inner}, embedded in IPv6"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip == _BROADCAST:
        return "broadcast"
    if allow_private:
        return None
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip in _CGNAT:
        return "shared address space (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global or any(ip in net for net in _ALSO_BLOCKED):
        return "reserved"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def parse_webhook_url(url: str, policy: UrlPolicy) -> WebhookUrl:
    """Check a webhook URL's form (and its address, if it is an IP literal); UnsafeUrl if bad.

    Host names are not resolved here; `resolve_target` does that before every attempt.
    """
    if len(url) > MAX_URL_CHARS:
        raise UnsafeUrl(f"a webhook URL may have at most {MAX_URL_CHARS} characters")
    if not url.isascii() or "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeUrl(
            "a webhook URL may not contain spaces, control characters, backslashes or non-ASCII"
            " characters (use punycode and percent-encoding)"
        )
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise UnsafeUrl("a webhook URL must use http or https")
    if "@" in parts.netloc:
        raise UnsafeUrl("a webhook URL may not carry credentials (user@host)")
    if not parts.hostname:
        raise UnsafeUrl("a webhook URL needs a host")
    port = DEFAULT_PORTS[parts.scheme] if explicit_port is None else explicit_port
    if not 0 < port < 65536 or (policy.allowed_ports and port not in policy.allowed_ports):
        raise UnsafeUrl(f"port {port} is not allowed for webhooks")
    host, literal = _parse_host(parts.hostname, bracketed="[" in parts.netloc)
    if literal is not None:
        reason = forbidden_reason(literal, allow_private=policy.allow_private)
        if reason is not None:
            raise UnsafeUrl(f"{host} is {reason}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookUrl(parts.scheme, host, port, target, literal)


def _parse_host(host: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    if bracketed:
        if "%" in host:
            raise UnsafeUrl("IPv6 zone ids are not allowed in webhook URLs")
        try:
            return host, ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrl(f"not a valid IPv6 address: [{host}]") from None
    host = host.removesuffix(".")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeUrl(f"not a valid host name: {host!r}")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if not _CANONICAL_IPV4.fullmatch(host):
            raise UnsafeUrl(f"IPv4 addresses must be written as a.b.c.d in decimal, not {host!r}")
        return host, ipaddress.IPv4Address(host)
    return host, None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, through the system resolver (in a thread)."""
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_target(
    url: WebhookUrl, policy: UrlPolicy, resolver: Resolver = system_resolver
) -> Target:
    """Resolve the host once and vet every address; the Target pins the first.

    UnsafeUrl if any address is forbidden, BadRequest if the name does not resolve.
    """
    if url.literal is not None:
        reason = forbidden_reason(url.literal, allow_private=policy.allow_private)
        if reason is not None:
            raise UnsafeUrl(f"{url.host} is {reason}")
        return Target(url, url.literal)
    try:
        answers = await resolver(url.host, url.port)
    except OSError as exc:
        raise BadRequest(f"cannot resolve {url.host}: {exc}") from None
    if not answers:
        raise BadRequest(f"{url.host} resolves to no address")
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer)
        except ValueError:
            raise UnsafeUrl(f"{url.host} resolves to {answer!r}, not an address") from None
        reason = forbidden_reason(ip, allow_private=policy.allow_private)
        if reason is not None:
            raise UnsafeUrl(f"{url.host} resolves to {ip}, which is {reason}")
        addresses.append(ip)
    return Target(url, addresses[0])


async def check_webhook_url(
    url: str, policy: UrlPolicy, resolver: Resolver = system_resolver
) -> Target:
    """Parse and resolve a URL as a delivery would (for validating it at registration)."""
    return await resolve_target(parse_webhook_url(url, policy), policy, resolver)
