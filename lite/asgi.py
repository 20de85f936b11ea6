"""ASGI entry for Hypercorn: `hypercorn --config config/hypercorn.toml 'lite.asgi:create()'`.

An app factory, so importing this module does nothing: settings are read, logging configured and
the app built only when the server calls `create()`.
"""

from __future__ import annotations

from starlette.applications import Starlette

from lite import hypercorn_fix
from lite.app import create_app
from lite.logs import configure_logging
from lite.settings import load_settings, read_environment


def create() -> Starlette:
    hypercorn_fix.install()
    settings = load_settings(read_environment())
    configure_logging(settings.lite_log_level, settings.lite_log_format)
    return create_app(settings)
