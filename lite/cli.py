"""Command line: `python -m lite serve|check|backend|keys create` (DESIGN §8)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from lite.errors import ConfigError, LiteError, StorageError
from lite.settings import SETTINGS, Settings, describe, load_settings

GRACEFUL_TIMEOUT = 20.0


def _settings_or_exit() -> Settings:
    try:
        return load_settings(os.environ)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_backend(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    print(f"storage: {settings.storage_backend} ({settings.backend_reason})")
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


async def _check(settings: Settings) -> list[str]:
    from lite.storage.factory import open_storage

    problems: list[str] = []
    try:
        storage = await open_storage(settings)
    except StorageError as exc:
        return [f"storage ({settings.storage_backend}): {exc.message}"]
    try:
        await storage.check_writable()
    except StorageError as exc:
        problems.append(f"storage ({settings.storage_backend}, {_where(settings)}): {exc.message}")
    finally:
        await storage.aclose()
    return problems


def _where(settings: Settings) -> str:
    if settings.storage_backend == "local":
        return settings.local_storage_dir
    if settings.storage_backend == "minio":
        return f"bucket {settings.minio_bucket!r} at {settings.minio_endpoint}"
    return f"bucket {settings.s3_bucket!r} at {settings.s3_endpoint or 'AWS'}"


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    problems = asyncio.run(_check(settings))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: storage {settings.storage_backend} ({_where(settings)}) is reachable and writable")
    return 0


async def _create_key(settings: Settings, user_id: int, name: str) -> str:
    from lite.apikeys import ApiKeyStore
    from lite.storage.factory import open_storage

    storage = await open_storage(settings)
    try:
        plain, _ = await ApiKeyStore(storage).create(user_id, name)
    finally:
        await storage.aclose()
    return plain


def cmd_keys_create(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    try:
        plain = asyncio.run(_create_key(settings, args.user, args.name))
    except LiteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(plain)
    return 0


async def _serve(settings: Settings, host: str, port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from lite import hypercorn_fix
    from lite.app import create_app

    hypercorn_fix.install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.read_timeout = 120
    config.keep_alive_timeout = 75
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(create_app(settings), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from lite.logs import configure_logging

    settings = _settings_or_exit()
    configure_logging(settings.lite_log_level)
    host = args.host or settings.lite_host
    port = settings.port if args.port is None else args.port
    print(f"storage: {settings.storage_backend} ({settings.backend_reason})", flush=True)
    for setting in SETTINGS:  # what this process was told, secrets hidden
        if setting.name in os.environ:
            logging.getLogger("lite").info("setting %s", describe(setting, os.environ))
    asyncio.run(_serve(settings.replace(lite_host=host, port=port), host, port))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lite", description="Vexa Lite recordings")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=None, help="address to bind (default LITE_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default PORT; 0 = any)")
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="validate settings and storage")
    check.set_defaults(func=cmd_check)
    backend = sub.add_parser("backend", help="print the storage backend and why it was chosen")
    backend.set_defaults(func=cmd_backend)
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key and print it")
    create.add_argument("--user", type=int, required=True, help="user id the key belongs to")
    create.add_argument("--name", default="", help="a label for the key")
    create.set_defaults(func=cmd_keys_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
