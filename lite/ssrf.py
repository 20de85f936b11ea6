"""Webhook targets and server-side request forgery: a target must resolve to public addresses only.

The host is resolved once, every address is checked, and the request then goes to one of the
checked addresses (Host header and TLS server name kept), so a DNS answer that changes between the
check and the connection (rebinding) cannot redirect it to an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from lite.errors import BadRequest

if TYPE_CHECKING:  # imported when a URL is checked: start-up does not need httpx
    import httpx


class TargetRefused(BadRequest):
    code = "webhook_target_refused"


@dataclass(frozen=True)
class Pinned:
    url: str  # the target with its host replaced by a checked address
    host_header: str
    extensions: dict[str, str] = field(default_factory=dict)


def check_url_shape(url: str) -> httpx.URL:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise TargetRefused("the webhook URL is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("the webhook URL must be an http:// or https:// URL with a host")
    if parsed.userinfo:
        raise TargetRefused("the webhook URL must not carry credentials")
    return parsed


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(url: str, allow_private: bool) -> Pinned:
    """Check the target and pin it to a checked address (TargetRefused otherwise)."""
    parsed = check_url_shape(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await anyio.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"the webhook host {parsed.host!r} does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"the webhook host {parsed.host!r} does not resolve")
    refused = [str(a) for a in addresses if not is_public(a)]
    if refused and not allow_private:
        raise TargetRefused(
            f"the webhook host {parsed.host!r} resolves to a private or loopback address "
            f"({', '.join(refused)}); set LITE_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    pinned = parsed.copy_with(host=str(addresses[0]))
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Pinned(str(pinned), parsed.netloc.decode("ascii"), extensions)
