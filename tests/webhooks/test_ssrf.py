"""SSRF rules, table-driven: URL forms, address classes, one lookup with every address vetted."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from polymon.errors import BadRequest, UnsafeUrl
from polymon.webhooks.params import DeliveryParams
from polymon.webhooks.ssrf import (
    UrlPolicy,
    check_webhook_url,
    forbidden_reason,
    parse_webhook_url,
    system_resolver,
)

PUBLIC = UrlPolicy()
PRIVATE_OK = UrlPolicy(allow_private=True, allowed_ports=frozenset())

BLOCKED_URLS = [
    # loopback, spelled every way some parser accepts
    "http://127.0.0.1/",
    "http://127.0.0.1./",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.01/",
    "http://1.2.3.4.5/",
    "http://a.0x/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",
    # private, link-local, shared, reserved, special
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "http://[2001:db8::1]/",
    "http://[2001::1]/",
    "http://[64:ff9b:1::1]/",
    # IPv4 embedded in IPv6: 6to4 and NAT64 of private addresses
    "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::]/",
    "http://[64:ff9b::10.0.0.1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    # credentials, userinfo and parser-confusion tricks
    "http://user:pw@example.com/",
    "http://example.com@127.0.0.1/",
    "http://@example.com/",
    "http://127.0.0.1\\@example.com/",
    "http://exa mple.com/",
    "http://example.com/\n",
    "http://exämple.com/",
    "http://%31%32%37.0.0.1/",
    "http://[::1/",
    "http://[not-v6]/",
    # schemes, hosts, ports
    "file:///etc/passwd",
    "ftp://example.com/",
    "gopher://example.com/",
    "javascript:alert(1)",
    "//example.com/",
    "example.com/hook",
    "http:///path",
    "http://",
    "http://:80/",
    "http://example.com:8080/",
    "http://example.com:99999/",
    "http://example.com:0/",
    "http://example.com:80:80/",
    "http://" + "a" * 64 + ".com/",
    "https://example.com/" + "a" * 2048,
]

ALLOWED_URLS = [
    ("https://example.com/hook", "https", "example.com", 443, "/hook"),
    ("http://example.com", "http", "example.com", 80, "/"),
    ("https://8.8.8.8/x?y=1", "https", "8.8.8.8", 443, "/x?y=1"),
    ("http://[2606:4700:4700::1111]/", "http", "2606:4700:4700::1111", 80, "/"),
    ("HTTPS://Hooks.EXAMPLE.com./a#fragment", "https", "hooks.example.com", 443, "/a"),
    ("https://hooks.example.com:443/a/b?c=d&e", "https", "hooks.example.com", 443, "/a/b?c=d&e"),
    ("http://[2002:808:808::1]/", "http", "2002:808:808::1", 80, "/"),
    ("http://[64:ff9b::8.8.8.8]/", "http", "64:ff9b::8.8.8.8", 80, "/"),
    ("http://[::ffff:8.8.8.8]/", "http", "::ffff:8.8.8.8", 80, "/"),
    ("https://1e100.net/", "https", "1e100.net", 443, "/"),
    ("https://my_host-1.example/", "https", "my_host-1.example", 443, "/"),
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_blocked_urls(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        parse_webhook_url(url, PUBLIC)


@pytest.mark.parametrize(("url", "scheme", "host", "port", "target"), ALLOWED_URLS)
def test_allowed_urls(url: str, scheme: str, host: str, port: int, target: str) -> None:
    parsed = parse_webhook_url(url, PUBLIC)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.target) == (scheme, host, port, target)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/", True),
        ("http://[::1]:1/", True),
        ("http://10.1.2.3/", True),
        ("http://localhost:9/", True),
        ("http://[::ffff:127.0.0.1]/", True),
        # still refused with allow_private
        ("http://0.0.0.0/", False),
        ("http://[::]/", False),
        ("http://224.0.0.1/", False),
        ("http://255.255.255.255/", False),
        ("http://2130706433/", False),
        ("http://user@127.0.0.1/", False),
        ("http://[fe80::1%25lo]/", False),
    ],
)
def test_allow_private(url: str, allowed: bool) -> None:
    if allowed:
        parse_webhook_url(url, PRIVATE_OK)
    else:
        with pytest.raises(UnsafeUrl):
            parse_webhook_url(url, PRIVATE_OK)


def test_private_addresses_are_refused_by_default() -> None:
    assert DeliveryParams().allow_private is False
    assert DeliveryParams().allowed_ports == frozenset({80, 443})
    assert DeliveryParams().url_policy == PUBLIC


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.53", "loopback"),
        ("::1", "loopback"),
        ("10.9.8.7", "private"),
        ("169.254.169.254", "link-local"),
        ("100.127.255.255", "shared address space (CGNAT)"),
        ("100.128.0.0", None),
        ("0.0.0.0", "unspecified"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("::ffff:10.0.0.1", "private, embedded in IPv6"),
        ("2002:c0a8:101::1", "private, embedded in IPv6"),
        ("64:ff9b::a9fe:a9fe", "link-local, embedded in IPv6"),
        ("64:ff9b::808:808", None),
        ("fec0::1", "reserved"),
        ("fd00:ec2::254", "private"),
    ],
)
def test_address_rules(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_an_ipv6_zone_id_is_refused() -> None:
    assert forbidden_reason(ipaddress.ip_address("fe80::1%eth0"), allow_private=True) is not None


def resolver_of(*answers: Sequence[str]) -> tuple[list[str], object]:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(f"{host}:{port}")
        return answers[min(len(calls), len(answers)) - 1]

    return calls, resolve


async def test_resolution_pins_the_first_of_the_vetted_addresses() -> None:
    calls, resolve = resolver_of(["2606:4700::1111", "8.8.8.8"], ["127.0.0.1"])
    target = await check_webhook_url("https://hooks.example.com:443/a?b", PUBLIC, resolve)  # type: ignore[arg-type]
    assert calls == ["hooks.example.com:443"]
    assert target.request_url == "https://[2606:4700::1111]:443/a?b"
    assert target.url.host_header == "hooks.example.com"
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


@pytest.mark.parametrize(
    "answers",
    [
        ["8.8.8.8", "127.0.0.1"],  # one bad address is enough
        ["10.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["fe80::1%eth0"],
        ["not an address"],
    ],
)
async def test_any_forbidden_address_refuses_the_url(answers: list[str]) -> None:
    _, resolve = resolver_of(answers)
    with pytest.raises(UnsafeUrl):
        await check_webhook_url("https://hooks.example.com/", PUBLIC, resolve)  # type: ignore[arg-type]


async def test_unresolvable_names_are_bad_requests() -> None:
    _, resolve = resolver_of([])
    with pytest.raises(BadRequest, match="no address"):
        await check_webhook_url("https://hooks.example.com/", PUBLIC, resolve)  # type: ignore[arg-type]

    async def failing(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(BadRequest, match="cannot resolve"):
        await check_webhook_url("https://hooks.example.com/", PUBLIC, failing)


async def test_literals_are_not_resolved() -> None:
    calls, resolve = resolver_of(["127.0.0.1"])
    target = await check_webhook_url("http://8.8.8.8:8080/x", PRIVATE_OK, resolve)  # type: ignore[arg-type]
    assert calls == []
    assert target.request_url == "http://8.8.8.8:8080/x"
    assert target.url.host_header == "8.8.8.8:8080"
    assert target.extensions == {}
    v6 = await check_webhook_url("https://[2606:4700::1111]/", PUBLIC, resolve)  # type: ignore[arg-type]
    assert v6.url.host_header == "[2606:4700::1111]"
    assert v6.extensions == {}  # no SNI for an address


async def test_the_system_resolver_and_localhost() -> None:
    assert await system_resolver("127.0.0.1", 80) == ["127.0.0.1"]
    # localhost comes from the hosts file, never from the network.
    with pytest.raises(UnsafeUrl, match="loopback"):
        await check_webhook_url("http://localhost/", PUBLIC)
