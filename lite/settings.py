"""Settings: the environment parsed once into a typed, validated `Settings`.

The variables are declared in `lite.settings_table` (name, default, help); this module parses
them and resolves the storage backend (docs/architecture.md, Configuration). A bad value raises
`ConfigError` with one line naming the variable, the value and what is allowed. Imports nothing
of the app but the other settings modules, the backend choice and the errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lite.backend_choice import resolve_backend
from lite.envfile import read_environment
from lite.errors import ConfigError
from lite.settings_checks import Network, check_trusted_proxies, check_webhook, networks, public_url
from lite.settings_table import BACKENDS, SETTINGS, Setting

# The names callers import from here; the table and the .env reader live in modules of their own.
__all__ = [
    "BACKENDS",
    "SETTINGS",
    "Setting",
    "Settings",
    "describe",
    "load_settings",
    "read_environment",
    "resolve_backend",
]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


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
    lite_chunk_memory_bytes: int
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
    def trusted_proxies(self) -> tuple[Network, ...]:
        return networks(self.lite_trusted_proxies)

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
    values["lite_public_url"] = public_url(values["lite_public_url"])
    check_trusted_proxies(values["lite_trusted_proxies"])
    check_webhook(
        values["lite_webhook_url"],
        values["lite_webhook_secret"],
        values["lite_webhook_allow_private"],
    )
    return Settings(**values)


def describe(setting: Setting, environ: Mapping[str, str]) -> str:
    """One line for logs: the name and its value, secrets hidden."""
    raw = environ.get(setting.name, setting.default)
    return f"{setting.name}={_shown(setting, raw)}"
