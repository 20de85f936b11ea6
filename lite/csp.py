"""The console's Content-Security-Policy: everything from the page's own origin, media also from
the host that presigned URLs point to (the S3 public endpoint)."""

from __future__ import annotations

from urllib.parse import urlsplit

from lite.settings import Settings
from lite.storage.factory import s3_options

# AWS presigns virtual-hosted URLs (bucket.s3.region.amazonaws.com) when no endpoint is set.
AWS_MEDIA = "https://*.amazonaws.com"


def media_origins(settings: Settings) -> tuple[str, ...]:
    """Origins besides 'self' that `<audio src>` may load from."""
    if settings.storage_backend not in ("minio", "s3"):
        return ()
    options = s3_options(settings)
    url = options.public_endpoint_url or options.endpoint_url
    if not url:
        return (AWS_MEDIA,)
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",)


def console_policy(media: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src " + " ".join(["'self'", *media]),
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def docs_policy() -> str:
    """Swagger UI sets inline styles from its script and draws icons from data: URLs."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
