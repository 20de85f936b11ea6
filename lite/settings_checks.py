"""Checks that look at more than one setting's syntax: URLs, proxy networks, the webhook target.

Pure: imports nothing of the app but its errors. Each check raises `ConfigError` with one line
naming the variable, the value (secrets hidden) and what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from urllib.parse import urlsplit

from lite.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks; ValueError on a bad entry."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


def public_url(url: str) -> str:
    """LITE_PUBLIC_URL without its trailing slash; empty stays empty (relative links)."""
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"LITE_PUBLIC_URL={url!r} is not allowed: use an http(s):// URL")
    return url.rstrip("/")


def check_trusted_proxies(text: str) -> None:
    try:
        networks(text)
    except ValueError:
        raise ConfigError(
            f"LITE_TRUSTED_PROXIES={text!r} is not allowed: use "
            "comma-separated IP addresses or CIDR networks (e.g. 10.0.0.0/8,127.0.0.1)"
        ) from None


def check_webhook(url: str, secret: str, allow_private: bool) -> None:
    if not url:
        return
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"LITE_WEBHOOK_URL={url!r} is not allowed: use an http(s):// URL")
    if not secret:
        raise ConfigError(
            "LITE_WEBHOOK_URL is set but LITE_WEBHOOK_SECRET is not: set whsec_<base64>"
        )
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith("whsec_") or len(key) < 16:
        raise ConfigError(
            "LITE_WEBHOOK_SECRET=<hidden> is not allowed: use whsec_ and at least 16 base64 bytes"
        )
    if not allow_private:
        _refuse_private_literal(url)


def _refuse_private_literal(url: str) -> None:
    """A webhook URL naming a private or loopback address outright is refused at start; host
    names are resolved and checked at each delivery."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        private = host == "localhost" or host.endswith(".localhost")
    else:
        private = not address.is_global or address.is_multicast
    if private:
        raise ConfigError(
            f"LITE_WEBHOOK_URL={url!r} is not allowed: it names a private or loopback address "
            "(set LITE_WEBHOOK_ALLOW_PRIVATE=true to allow it)"
        )
