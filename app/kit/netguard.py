"""Is a host on the public internet? The check before sending to a URL a user gave (SSRF).

Refused: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud
metadata address, fe80::/10), unspecified, multicast, reserved, site-local, and anything
else `ipaddress` does not call global (the shared 100.64/10, documentation ranges, ...);
an IPv4 address carried in IPv6 (::ffff:a.b.c.d, 6to4, the NAT64 prefix) is judged as
that IPv4 address. Names: `localhost`, `*.localhost` and the usual /etc/hosts aliases.

`host_refusal` needs no DNS: it reads IP literals, including the shorthand forms the C
resolver accepts (`2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`), as the address a
connection would go to. `checked_addresses` also resolves the name, refuses it when any
address is refused, and gives those addresses, so a caller can connect to what was
checked (webhooks do) instead of resolving again, which a name with a short TTL could
answer differently (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Dotted numbers in decimal, octal or hex, one to four parts: what inet_aton(3) reads.
_NUMERIC_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
RESOLVE_TIMEOUT = 10.0


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why a connection to `ip` is refused (e.g. "a loopback address"), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_refusal(inner)
        if ip.is_site_local:
            return "a site-local address"
    checks = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (where cloud metadata services live)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private-network address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS (an IP literal in any form), or None."""
    name = host.strip().removeprefix("[").removesuffix("]").lower()
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])  # an IPv6 zone id goes
    except ValueError:
        pass
    if _NUMERIC_IPV4.match(name.rstrip(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name.rstrip(".")))
        except OSError:
            return None
    return None


def host_refusal(host: str) -> str | None:
    """Why sending to `host` is refused, judged without DNS, or None."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if not name:
        return "no host"
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return f"{name} is this machine"
    ip = literal_address(name)
    if ip is None:
        return None
    reason = address_refusal(ip)
    if reason is None:
        return None
    spelled = "" if str(ip) == name else f" ({ip})"
    return f"{name}{spelled} is {reason}"


async def checked_addresses(host: str) -> tuple[str | None, list[IPAddress]]:
    """Why `host` is refused (or None) and, when it is not, the addresses it resolved to.

    Connecting to one of these addresses instead of resolving the name again closes the
    gap a name with a short TTL could use (DNS rebinding); webhooks do.
    Raises OSError (socket.gaierror, TimeoutError) when the name does not resolve.
    """
    reason = host_refusal(host)
    if reason is not None:
        return reason, []
    literal = literal_address(host)
    if literal is not None:
        return None, [literal]
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = address_refusal(ip)
        if reason is not None:
            return f"{host} resolves to {ip}, {reason}", []
        addresses.append(ip)
    return None, addresses
