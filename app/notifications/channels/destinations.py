"""Which hosts a person's webhook or Apprise URL sends to, and refusing private ones (SSRF).

A person's own destinations must not make the server talk to its own network (loopback,
RFC 1918, cloud metadata, ...): `app.kit.netguard` decides. The URL is checked when it is
saved (IP literals and `localhost`, no DNS) and again before each send, when the name is
resolved; `Settings.allow_private_destinations` turns both checks off. Status webhooks,
which only admins configure, are not checked.

For a webhook, the host is the one httpx will connect to. For an Apprise URL it depends
on the plugin: a plugin whose URL templates take a `{host}` (json://, xml://, form://,
gotify://, ntfy://host/..., mmost://, apprise://, ...) sends to that host, e-mail
(mailto://) to its SMTP server; service plugins (slack://, msteams://, discord://, ...)
send to their vendor and have no host to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import apprise
import httpx

from app.kit.netguard import IPAddress, checked_addresses, host_refusal
from app.notifications.channels import DeliveryResult

# Plugins whose `{host}` is not a server they connect to: the e-mail APIs take the
# sender's domain there (the API is the vendor's), WeChat an agent id.
_HOST_IS_NOT_A_SERVER = frozenset(
    {"NotifyMailgun", "NotifySparkPost", "NotifySMTP2Go", "NotifySendPulse", "NotifyWeChat"}
)
# Plugins that append their vendor's domain to a host without a dot.
_VENDOR_SUBDOMAIN = frozenset({"NotifyXMatters", "NotifyInfobip"})
# Plugin modes that send to the vendor's cloud whatever the host field holds.
_VENDOR_MODES = frozenset({"cloud", "official", "t2bot"})
# Plugins that take a server name without a `{host}` template.
_HOST_WITHOUT_TEMPLATE = frozenset({"NotifyZulip"})


def webhook_host(url: str) -> str:
    """The host httpx connects to for `url` (IDNA-encoded); ValueError if it has none."""
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeDecodeError) as exc:
        raise ValueError(f"not a usable URL: {exc}") from None
    if not host:
        raise ValueError("the URL has no host")
    return host


def _chooses_its_server(plugin: object, kind: str, host: str) -> bool:
    if kind in _HOST_IS_NOT_A_SERVER or (kind in _VENDOR_SUBDOMAIN and "." not in host):
        return False
    if str(getattr(plugin, "mode", "")) in _VENDOR_MODES:
        return False
    templates = getattr(plugin, "templates", ())
    return kind in _HOST_WITHOUT_TEMPLATE or any("{host}" in t for t in templates)


def plugin_hosts(plugin: object) -> list[str]:
    """The hosts an Apprise plugin instance connects to that its URL chose."""
    kind = type(plugin).__name__
    host = str(getattr(plugin, "host", "") or "")
    if kind == "NotifyEmail":  # its SMTP server: the smtp= parameter, or the domain's
        host = str(getattr(plugin, "smtp_host", "") or host)
    elif not _chooses_its_server(plugin, kind, host):
        return []
    host = host.strip().removeprefix("[").removesuffix("]")
    return [host] if host else []


def apprise_hosts(url: str) -> list[str]:
    """The hosts an Apprise URL sends to (none for a URL Apprise cannot use)."""
    plugin = apprise.Apprise.instantiate(url)
    return plugin_hosts(plugin) if plugin else []


def hosts_of(kind: str, url: str) -> list[str]:
    """The hosts a destination of `kind` (webhook | apprise) sends to."""
    return apprise_hosts(url) if kind == "apprise" else [webhook_host(url)]


def saved_refusal(kind: str, url: str) -> str | None:
    """Why a destination URL may not be saved, judged without DNS, or None."""
    try:
        hosts = hosts_of(kind, url)
    except ValueError as exc:
        return str(exc)
    for host in hosts:
        reason = host_refusal(host)
        if reason is not None:
            return f"{reason}; notifications go only to public hosts"
    return None


async def _send_check(host: str, what: str) -> DeliveryResult | list[IPAddress]:
    """The addresses `host` may be sent to, or the failed result: refused is final, a name
    that did not resolve is retried (as a failed connection is)."""
    try:
        reason, addresses = await checked_addresses(host)
    except OSError as exc:  # socket.gaierror, TimeoutError
        detail = str(exc) or type(exc).__name__
        return DeliveryResult.failed(f"{what}: cannot resolve {host}: {detail}")
    if reason is not None or not addresses:
        why = reason or f"{host} resolves to no address"
        return DeliveryResult.failed(
            f"{what}: refused, {why}; notifications go only to public hosts", permanent=True
        )
    return addresses


async def refused_send(hosts: Sequence[str], what: str) -> DeliveryResult | None:
    """A failed result when a host must not be sent to or did not resolve; None when every
    host is public."""
    for host in hosts:
        checked = await _send_check(host, what)
        if isinstance(checked, DeliveryResult):
            return checked
    return None


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where a webhook goes: the address that was checked, the name kept for HTTP and TLS.

    Sending to the URL as given would resolve the name a second time, and a name with a
    short TTL can answer a public address to the check and a private one to the connection
    (DNS rebinding). So the request goes to the checked address, with the name in the Host
    header and as the TLS server name (SNI, and what the certificate is checked against).
    """

    url: httpx.URL
    host_header: str
    server_name: str


async def pinned_webhook(url: str) -> PinnedTarget | DeliveryResult:
    """The pinned target of a webhook URL, or the failed result saying why not."""
    try:
        host = webhook_host(url)
    except ValueError as exc:
        return DeliveryResult.failed(f"webhook: {exc}", permanent=True)
    addresses = await _send_check(host, "webhook")
    if isinstance(addresses, DeliveryResult):
        return addresses
    parsed = httpx.URL(url)
    return PinnedTarget(
        url=parsed.copy_with(host=str(addresses[0])),
        host_header=parsed.netloc.decode("ascii"),
        server_name=host,
    )
