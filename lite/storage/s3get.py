"""Object reads by presigned URL over a pooled aiohttp session, beside botocore's pipeline.

A botocore call serializes its parameters, signs, emits a dozen events and parses the answer by
the service model: most of the CPU of serving a 64 KiB range. A read instead GETs a URL presigned
for its key (signed once, reused for URL_REUSE seconds) with a plain HTTP client, and maps error
answers onto the same typed errors as a botocore call (lite/storage/s3errors.py).
"""

from __future__ import annotations

import os
import random
import re
import ssl
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import aiohttp
import anyio
from botocore.httpsession import get_cert_path
from yarl import URL

from lite.storage.base import Unavailable
from lite.storage.s3errors import from_answer

URL_SECONDS = 300
# botocore renews temporary credentials ten or more minutes before they expire, so a URL reused
# for a minute never outlives the credentials that signed it.
URL_REUSE = 60.0
URLS_KEPT = 4096
READ_BUFFER = 1024 * 1024  # per connection, before reading from the socket pauses
RETRY_PAUSE = 0.5  # at most, before retrying a 5xx (jittered)
ERROR_BODY = 64 * 1024
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")

Sign = Callable[[str], Awaitable[str]]


class SignedUrls:
    """GET URLs presigned per key; the URLS_KEPT most recently used are reused for URL_REUSE."""

    def __init__(self, sign: Sign) -> None:
        self._sign = sign
        self._kept: OrderedDict[str, tuple[float, URL]] = OrderedDict()

    async def get(self, key: str) -> URL:
        kept = self._kept.get(key)
        if kept is not None and kept[0] > time.monotonic():
            self._kept.move_to_end(key)
            return kept[1]
        url = URL(await self._sign(key), encoded=True)
        self._kept[key] = (time.monotonic() + URL_REUSE, url)
        self._kept.move_to_end(key)
        if len(self._kept) > URLS_KEPT:
            self._kept.popitem(last=False)
        return url

    def forget(self, key: str) -> None:
        self._kept.pop(key, None)


def session(
    connections: int, connect_timeout: float, read_timeout: float, tls: bool
) -> aiohttp.ClientSession:
    """A pool of at most `connections`; a read timeout per socket read, so long streams go on."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=connections, limit_per_host=0, ssl=_tls_context() if tls else True
        ),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        ),
        # Bytes as stored: no decompression, no cookies. Not trust_env: it reads ~/.netrc in a
        # thread on every request; proxies are looked up once per host instead (`_proxy`).
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        read_bufsize=READ_BUFFER,
        headers={"Accept-Encoding": "identity"},
    )


def _tls_context() -> ssl.SSLContext:
    """Verified against the CA bundle botocore would use."""
    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True))


class PlainGets:
    """GetObject as a plain GET of a presigned URL."""

    def __init__(self, http: aiohttp.ClientSession, urls: SignedUrls, attempts: int) -> None:
        self._http = http
        self._urls = urls
        self._attempts = max(1, attempts)
        self._proxies: dict[str, str | None] = {}

    def _proxy(self, url: URL) -> str | None:
        """The proxy the environment names for this host (HTTPS_PROXY, NO_PROXY), as botocore."""
        host = url.host or ""
        if host not in self._proxies:
            bypass = urllib.request.proxy_bypass(host)
            proxy = None if bypass else urllib.request.getproxies_environment().get(url.scheme)
            self._proxies[host] = proxy
        return self._proxies[host]

    async def fetch(self, key: str, wanted: str | None) -> aiohttp.ClientResponse | None:
        """The open 200/206 answer, or None when nothing lies in the range (416)."""
        headers = {"Range": wanted} if wanted else None
        attempt, renewed = 0, False
        while True:
            attempt += 1
            try:
                url = await self._urls.get(key)
                got = await self._http.get(
                    url, headers=headers, allow_redirects=False, proxy=self._proxy(url)
                )
            except (aiohttp.ClientError, OSError) as exc:
                if attempt < self._attempts:
                    continue
                raise Unavailable(f"object storage unreachable ({type(exc).__name__})") from None
            if got.status in (200, 206):
                return got
            code = await _error_code(got)
            if got.status == 416:
                return None
            if got.status == 403 and not renewed:  # a reused URL may have gone stale: sign anew
                self._urls.forget(key)
                attempt, renewed = attempt - 1, True
            elif got.status >= 500 and attempt < self._attempts:
                await anyio.sleep(random.uniform(0, RETRY_PAUSE))
            else:
                raise from_answer(code, str(got.status), key)


async def _error_code(got: aiohttp.ClientResponse) -> str:
    """The <Code> of an error answer's XML body ("" when there is none); closes the answer."""
    body = b""
    try:
        while len(body) < ERROR_BODY and (piece := await got.content.read(ERROR_BODY)):
            body += piece
    except (aiohttp.ClientError, OSError):
        body = b""
    finally:
        got.close()
    found = _CODE.search(body)
    return found[1].decode("ascii", "replace") if found else ""
