"""Behind a reverse proxy: `X-Forwarded-*` honoured only from trusted peers.

A request whose direct peer is in `LITE_TRUSTED_PROXIES` gets its scheme, host and client address
from `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-For`; from anyone else those headers
are ignored, so a client cannot choose the host that absolute links (upload_url, raw_url, signed
`/download` URLs) point to. `LITE_PUBLIC_URL`, when set, wins over both.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The key under which the middleware leaves the public base URL in the ASGI scope.
SCOPE_KEY = "lite.public_base"
# host, host:port, [v6]:port; nothing that could end the authority part of a URL.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def _is_trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _last_value(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    """The nearest proxy's value: the last one of a comma-separated (possibly repeated) header."""
    values = [v.decode("latin-1") for k, v in headers if k == name]
    parts = [p.strip() for p in ",".join(values).split(",") if p.strip()]
    return parts[-1] if parts else ""


def _client_address(headers: list[tuple[bytes, bytes]], networks: Sequence[Network]) -> str:
    """The first address from the right of X-Forwarded-For that is not one of our proxies."""
    values = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
    hops = [p.strip() for p in ",".join(values).split(",") if p.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else ""


def forwarded_scope(scope: Scope, networks: Sequence[Network]) -> Scope:
    """A copy of `scope` with the scheme, Host and client the trusted proxy reported."""
    headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
    changed = dict(scope)
    proto = _last_value(headers, b"x-forwarded-proto").lower()
    proto = proto if proto in ("http", "https") else ""
    host = _last_value(headers, b"x-forwarded-host")
    host = host if _HOST.match(host) else ""
    if proto:
        changed["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
    if host:
        kept = [(k, v) for k, v in headers if k != b"host"]
        changed["headers"] = [*kept, (b"host", host.encode())]
    client = _client_address(headers, networks)
    if client and scope.get("client"):
        changed["client"] = (client, scope["client"][1])
    own_host = host or _last_value(headers, b"host")
    if (proto or host) and own_host:
        scheme = proto or ("https" if scope.get("scheme") in ("https", "wss") else "http")
        changed[SCOPE_KEY] = f"{scheme}://{own_host}"
    return changed


class TrustedProxies:
    """Pure ASGI middleware: rewrites the scope only when the direct peer is trusted."""

    def __init__(self, app: ASGIApp, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = scope.get("client")
            if peer and _is_trusted(str(peer[0]), self.networks):
                scope = forwarded_scope(scope, self.networks)
        await self.app(scope, receive, send)


def public_base(request: Request, configured: str) -> str:
    """Base of absolute links: LITE_PUBLIC_URL, else a trusted proxy's scheme and host, else ''
    (relative links)."""
    if configured:
        return configured
    found = request.scope.get(SCOPE_KEY)
    return found if isinstance(found, str) else ""
