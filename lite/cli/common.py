"""What every command shares: the settings every entry point reads, and one-line failures."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from lite.errors import ConfigError
from lite.settings import Settings, load_settings, read_environment


class Exit(Exception):
    """A failure the user can act on: printed as one `error:` line, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    raise Exit(message, code)


def settings_or_exit(environ: dict[str, str] | None = None) -> Settings:
    """The environment over `.env` in the working directory: the same for serve and every tool."""
    try:
        return load_settings(read_environment() if environ is None else environ)
    except ConfigError as exc:
        fail(exc.message)


def where(settings: Settings) -> str:
    if settings.storage_backend == "local":
        return settings.local_storage_dir
    if settings.storage_backend == "minio":
        return f"bucket {settings.minio_bucket!r} at {settings.minio_endpoint}"
    return f"bucket {settings.s3_bucket!r} at {settings.s3_endpoint or 'AWS'}"


def emit_json(value: Any) -> None:
    """--json output: one document on stdout, for scripts."""
    print(json.dumps(value, sort_keys=True), flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
