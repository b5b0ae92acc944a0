"""app.kit.netguard: which hosts are private, in every spelling, with and without DNS."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from app.kit.netguard import address_refusal, checked_addresses, host_refusal, literal_address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.254.1.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),  # ipaddress calls multicast global: checked apart
        ("ff0e::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a public"),  # shared address space (carrier-grade NAT)
        ("192.0.2.10", "private"),  # documentation
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
        ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f.0.0.1", "127.0.0.1"),  # hex part
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal part
        ("127.1", "127.0.0.1"),  # short form
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),  # zone id
        ("93.184.216.34", "93.184.216.34"),
    ],
)
def test_ip_literals_are_read_as_the_c_resolver_reads_them(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)
    if ":" not in address:  # the same address a connection would go to
        assert socket.getaddrinfo(host.strip("[]"), 80)[0][4][0] == address


@pytest.mark.parametrize("host", ["example.com", "1e100.net", "123.example", "999.1.1.1", "a"])
def test_names_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "api.localhost",
        "ip6-localhost",
        "2130706433",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
        "",
    ],
)
def test_hosts_refused_without_dns(host: str) -> None:
    assert host_refusal(host) is not None


def test_a_shorthand_literal_is_named_with_the_address_it_means() -> None:
    assert host_refusal("2130706433") == "2130706433 (127.0.0.1) is a loopback address"


@pytest.mark.parametrize("host", ["hooks.slack.com", "93.184.216.34", "[2606:4700::1111]"])
def test_public_hosts_pass_without_dns(host: str) -> None:
    assert host_refusal(host) is None


async def test_a_name_is_refused_when_it_resolves_to_a_private_address() -> None:
    """This machine's own name, resolved by the system resolver (no /etc/hosts edits)."""
    name = socket.gethostname()
    try:
        found = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve here")
    if all(address_refusal(ip) is None for ip in found):
        pytest.skip(f"{name!r} resolves to a public address here")
    refusal, addresses = await checked_addresses(name)
    assert refusal is not None
    assert refusal.startswith(f"{name} resolves to ")
    assert addresses == []


async def test_a_name_that_does_not_resolve_raises() -> None:
    with pytest.raises(socket.gaierror):
        await checked_addresses("no-such-host.invalid")  # RFC 6761: never resolves


async def test_a_public_literal_needs_no_dns() -> None:
    assert await checked_addresses("93.184.216.34") == (
        None,
        [ipaddress.ip_address("93.184.216.34")],
    )
