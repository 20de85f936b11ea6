"""Settings: one table of (name, default, help) parsed from the environment once.

Pure: imports nothing of the app. `load_settings(environ)` validates every value and resolves the
storage backend (docs/architecture.md, Configuration); a bad value raises `ConfigError` with one
line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lite.backend_choice import resolve_backend
from lite.errors import ConfigError

BACKENDS = ("local", "minio", "s3")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    kind: str = "str"  # str | bool | int | choice | secret
    choices: tuple[str, ...] = ()
    minimum: int | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "STORAGE_BACKEND",
        "",
        "local, minio or s3; unset: chosen from the credentials present",
        "choice",
        ("", *BACKENDS),
    ),
    Setting("LOCAL_STORAGE_DIR", "/var/lib/vexa/recordings", "Directory of the local backend"),
    Setting(
        "LOCAL_STORAGE_FSYNC",
        "true",
        "fsync every object and its directory before acknowledging",
        "bool",
    ),
    Setting("MINIO_ENDPOINT", "minio:9000", "host:port (or URL) of an S3-compatible endpoint"),
    Setting("MINIO_ACCESS_KEY", "", "Access key for MINIO_ENDPOINT", "secret"),
    Setting("MINIO_SECRET_KEY", "", "Secret key for MINIO_ENDPOINT", "secret"),
    Setting("MINIO_BUCKET", "vexa-recordings", "Bucket on MINIO_ENDPOINT"),
    Setting("MINIO_SECURE", "false", "Use https for MINIO_ENDPOINT", "bool"),
    Setting(
        "MINIO_PUBLIC_ENDPOINT",
        "",
        "Endpoint browsers use for presigned URLs (default MINIO_ENDPOINT)",
    ),
    Setting("AWS_REGION", "us-east-1", "Region of the S3 bucket"),
    Setting(
        "AWS_ACCESS_KEY_ID", "", "S3 access key (or any standard AWS credential source)", "secret"
    ),
    Setting("AWS_SECRET_ACCESS_KEY", "", "S3 secret key", "secret"),
    Setting("S3_BUCKET", "vexa-recordings", "Bucket of the s3 backend"),
    Setting("S3_ENDPOINT", "", "Endpoint of a non-AWS S3 provider; unset for AWS"),
    Setting("S3_SECURE", "true", "Use https for S3_ENDPOINT when it has no scheme", "bool"),
    Setting(
        "S3_PUBLIC_ENDPOINT", "", "Endpoint browsers use for presigned URLs (default S3_ENDPOINT)"
    ),
    Setting("PORT", "8056", "HTTP port", "int", minimum=0),
    Setting("LITE_HOST", "127.0.0.1", "Address `vexa-lite serve` binds (the image uses 0.0.0.0)"),
    Setting(
        "ADMIN_API_TOKEN", "", "Token for X-Admin-API-Key; unset: admin API disabled", "secret"
    ),
    Setting(
        "INTERNAL_API_SECRET", "", "Bearer secret of trusted recorders; unset: disabled", "secret"
    ),
    Setting(
        "LITE_PUBLIC_URL",
        "",
        "Public base URL (e.g. https://rec.example.com) for absolute links; unset: relative links",
    ),
    Setting(
        "LITE_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-Proto, "
        "-Host and -For are believed; unset: none",
    ),
    Setting(
        "LITE_SIGNING_KEY",
        "",
        "Secret for upload tokens and signed /raw URLs; unset: generated "
        "once into the storage and shared by all replicas",
        "secret",
    ),
    Setting(
        "LITE_UPLOAD_TOKEN_TTL_SECONDS",
        "86400",
        "Lifetime of a recorder upload token",
        "int",
        minimum=60,
    ),
    Setting(
        "LITE_DOWNLOAD_URL_TTL_SECONDS", "3600", "Lifetime of /download URLs", "int", minimum=1
    ),
    Setting(
        "LITE_DEFAULT_USER_ID",
        "0",
        "Owner of chunks sent with INTERNAL_API_SECRET alone for a session nobody registered; "
        "0: keep them unassigned for the admin to assign",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_SESSION_IDLE_SECONDS",
        "600",
        "Finalize a session after this long without chunks",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_RECONCILE_INTERVAL_SECONDS",
        "30",
        "How often the reconciler looks for idle sessions; 0 disables it",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_MAX_CHUNK_BYTES",
        str(2 * 1024**3),
        "Largest accepted chunk or upload (413 above)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_MAX_RANGES",
        "16",
        "Most ranges served as multipart/byteranges; more: whole 200",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_CACHE_MAX_AGE", "3600", "Cache-Control max-age of finished media", "int", minimum=0
    ),
    Setting(
        "LITE_CORS_ORIGINS",
        "",
        "Comma-separated origins allowed to play media cross-origin (* for any)",
    ),
    Setting(
        "LITE_REQUIRE_VOLUME",
        "false",
        "Refuse to start the image when LOCAL_STORAGE_DIR is not a mounted volume",
        "bool",
    ),
    Setting("LITE_MOUNTINFO", "/proc/self/mountinfo", "mountinfo file the volume check reads"),
    Setting(
        "LITE_DEMO_KEY",
        "false",
        "On start with an empty key store, create and print a key for user 1",
        "bool",
    ),
    Setting(
        "LITE_RETENTION_DAYS",
        "0",
        "Delete recordings this many days after creation (per recording: expires_at); "
        "0: keep forever",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_KEEP_CHUNKS_HOURS",
        "24",
        "Remove a finished master's chunks this long after it was built; 0: at once; -1: keep",
        "int",
        minimum=-1,
    ),
    Setting(
        "LITE_LIFECYCLE_INTERVAL_SECONDS",
        "3600",
        "How often the retention and compaction pass runs; 0 disables it",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_COMPACT_SETTLE_SECONDS",
        "60",
        "Seconds between sealing a master (late chunks refused) and removing its chunks",
        "int",
        minimum=0,
    ),
    Setting("LITE_WEBHOOK_URL", "", "Endpoint that receives every recording event (signed)"),
    Setting(
        "LITE_WEBHOOK_SECRET",
        "",
        "Signing secret of LITE_WEBHOOK_URL, whsec_<base64> (Standard Webhooks)",
        "secret",
    ),
    Setting(
        "LITE_WEBHOOK_ALLOW_PRIVATE",
        "false",
        "Allow webhook targets on private or loopback addresses",
        "bool",
    ),
    Setting("LITE_WEBHOOK_TIMEOUT_SECONDS", "10", "Time one delivery may take", "int", minimum=1),
    Setting(
        "LITE_WEBHOOK_RETRY_BASE_MS",
        "5000",
        "First retry delay of a failed delivery; it doubles each time (at most 3 h apart)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_GIVE_UP_SECONDS",
        "86400",
        "Retry a delivery this long, then write a dead letter",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_LEASE_SECONDS",
        "60",
        "How long a replica holds an event it is delivering (a crashed one's lease runs out)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_POLL_MS",
        "2000",
        "How often each replica looks for events to deliver; 0 disables delivery",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_LOG_LEVEL",
        "info",
        "debug, info, warning or error",
        "choice",
        ("debug", "info", "warning", "error"),
    ),
    Setting(
        "LITE_API_KEY",
        "",
        "API key `vexa-lite upload` and `download` send (or --api-key)",
        "secret",
    ),
    Setting(
        "LITE_LOG_FORMAT",
        "auto",
        "json (one object per line), text, or auto: text on a terminal, else json",
        "choice",
        ("auto", "json", "text"),
    ),
    Setting(
        "LITE_WAV_GAP_FILL",
        "silence",
        "A missing WAV chunk becomes silence of its neighbours' length (later audio keeps its "
        "time), or none (left out)",
        "choice",
        ("silence", "none"),
    ),
)


@dataclass(frozen=True)
class Settings:
    """Parsed settings; attribute names are the variable names in lower case."""

    storage_backend: str
    backend_reason: str
    local_storage_dir: str
    local_storage_fsync: bool
    minio_endpoint: str
    minio_access_key: str
    minio_secret_key: str
    minio_bucket: str
    minio_secure: bool
    minio_public_endpoint: str
    aws_region: str
    aws_access_key_id: str
    aws_secret_access_key: str
    s3_bucket: str
    s3_endpoint: str
    s3_secure: bool
    s3_public_endpoint: str
    port: int
    lite_host: str
    admin_api_token: str
    internal_api_secret: str
    lite_public_url: str
    lite_trusted_proxies: str
    lite_signing_key: str
    lite_upload_token_ttl_seconds: int
    lite_download_url_ttl_seconds: int
    lite_default_user_id: int
    lite_session_idle_seconds: int
    lite_reconcile_interval_seconds: int
    lite_max_chunk_bytes: int
    lite_max_ranges: int
    lite_cache_max_age: int
    lite_cors_origins: str
    lite_require_volume: bool
    lite_mountinfo: str
    lite_demo_key: bool
    lite_retention_days: int
    lite_keep_chunks_hours: int
    lite_lifecycle_interval_seconds: int
    lite_compact_settle_seconds: int
    lite_webhook_url: str
    lite_webhook_secret: str
    lite_webhook_allow_private: bool
    lite_webhook_timeout_seconds: int
    lite_webhook_retry_base_ms: int
    lite_webhook_give_up_seconds: int
    lite_webhook_lease_seconds: int
    lite_webhook_poll_ms: int
    lite_log_level: str
    lite_log_format: str
    lite_api_key: str
    warnings: tuple[str, ...] = field(default=())
    lite_wav_gap_fill: str = "silence"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def trusted_proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return _networks(self.lite_trusted_proxies)

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return tuple(o.strip() for o in self.lite_cors_origins.split(",") if o.strip())


def _shown(setting: Setting, raw: str) -> str:
    return "<hidden>" if setting.kind == "secret" else repr(raw)


def _parse_value(setting: Setting, raw: str) -> Any:
    if setting.kind == "bool":
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{setting.name}={raw!r} is not allowed: use true or false")
    if setting.kind == "int":
        try:
            number = int(raw.strip())
        except ValueError:
            raise ConfigError(
                f"{setting.name}={raw!r} is not allowed: use a whole number"
            ) from None
        if setting.minimum is not None and number < setting.minimum:
            raise ConfigError(
                f"{setting.name}={raw!r} is not allowed: use a number >= {setting.minimum}"
            )
        return number
    if setting.kind == "choice":
        value = raw.strip().lower()
        if value not in setting.choices:
            allowed = ", ".join(c for c in setting.choices if c) or "(empty)"
            raise ConfigError(f"{setting.name}={raw!r} is not allowed: use one of {allowed}")
        return value
    return raw.strip()


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR networks; ValueError on a bad entry."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


def read_environment(directory: str | None = None) -> dict[str, str]:
    """What every entry point reads: the process environment over an optional `.env` file in the
    working directory (so `make run`, the CLI and the server agree on one store)."""
    from dotenv import dotenv_values

    path = os.path.join(directory or os.getcwd(), ".env")
    found = dotenv_values(path) if os.path.isfile(path) else {}
    return {**{k: v for k, v in found.items() if v is not None}, **os.environ}


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse and validate every setting; raise ConfigError naming the first bad one."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, setting.default)
        values[setting.name.lower()] = _parse_value(setting, raw)
    backend, why, warnings = resolve_backend(environ)
    values["storage_backend"] = backend
    values["backend_reason"] = why
    values["warnings"] = warnings
    public = values["lite_public_url"]
    if public and not public.startswith(("http://", "https://")):
        raise ConfigError(f"LITE_PUBLIC_URL={public!r} is not allowed: use an http(s):// URL")
    values["lite_public_url"] = public.rstrip("/")
    try:
        _networks(values["lite_trusted_proxies"])
    except ValueError:
        raise ConfigError(
            f"LITE_TRUSTED_PROXIES={values['lite_trusted_proxies']!r} is not allowed: use "
            "comma-separated IP addresses or CIDR networks (e.g. 10.0.0.0/8,127.0.0.1)"
        ) from None
    _check_webhook(values["lite_webhook_url"], values["lite_webhook_secret"])
    if not values["lite_webhook_allow_private"]:
        _refuse_private_literal(values["lite_webhook_url"])
    return Settings(**values)


def _check_webhook(url: str, secret: str) -> None:
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


def describe(setting: Setting, environ: Mapping[str, str]) -> str:
    """One line for logs: the name and its value, secrets hidden."""
    raw = environ.get(setting.name, setting.default)
    return f"{setting.name}={_shown(setting, raw)}"
