"""`vexa-lite serve|check|backend`: the server, and the checks it runs before it listens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from lite.cli.common import fail, settings_or_exit, warn, where
from lite.errors import StorageError
from lite.settings import SETTINGS, Settings, describe, read_environment

IMAGE_CONFIG = Path("/etc/vexa-lite/hypercorn.toml")


def cmd_backend(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    print(f"storage: {settings.storage_backend} ({settings.backend_reason})")
    for warning in settings.warnings:
        warn(warning)
    return 0


def _local_problem(directory: str) -> str | None:
    """The local directory, created if missing, must take a new file: else one line why."""
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        return f"LOCAL_STORAGE_DIR={directory} is not a directory"
    except OSError as exc:
        return f"LOCAL_STORAGE_DIR={directory} cannot be created: {exc.strerror}"
    probe = os.path.join(directory, f".probe-{secrets.token_hex(6)}")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        return f"LOCAL_STORAGE_DIR={directory} is not writable: {exc.strerror}"
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


async def storage_problem(settings: Settings) -> str | None:
    """Why the configured storage cannot be used, in one line; None when it can."""
    from lite.storage.factory import open_storage

    if settings.storage_backend == "local":
        problem = _local_problem(settings.local_storage_dir)
        if problem:
            return problem
    try:
        storage = await open_storage(settings)
    except StorageError as exc:
        return f"storage ({settings.storage_backend}): {exc.message}"
    try:
        await storage.check_writable()
    except StorageError as exc:
        return f"storage ({settings.storage_backend}, {where(settings)}): {exc.message}"
    finally:
        await storage.aclose()
    return None


def cmd_check(args: argparse.Namespace) -> int:
    settings = settings_or_exit()
    problem = asyncio.run(storage_problem(settings))
    if problem:
        fail(problem)
    print(f"ok: storage {settings.storage_backend} ({where(settings)}) is reachable and writable")
    return 0


def hypercorn_config(path: str | None) -> Any:
    """The Hypercorn configuration the image uses too: this checkout's config/hypercorn.toml, else
    the image's copy, else --config."""
    from hypercorn.config import Config

    checkout = Path(__file__).resolve().parents[2] / "config" / "hypercorn.toml"
    candidates = [Path(path)] if path else [checkout, IMAGE_CONFIG]
    for candidate in candidates:
        if candidate.is_file():
            return Config.from_toml(candidate)
    fail(f"no Hypercorn configuration at {' or '.join(str(c) for c in candidates)}")


def _port_problem(host: str, port: int) -> str | None:
    """Bind once before starting, so a busy port is one line rather than a traceback after the
    storage has been opened (Hypercorn binds with SO_REUSEADDR too)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: the port is already in use"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


async def _serve(settings: Settings, config: Any, environ: dict[str, str]) -> None:
    """Check the storage and the port, then serve, all on one event loop."""
    problem = await storage_problem(settings) or _port_problem(settings.lite_host, settings.port)
    if problem:
        fail(problem)
    log = logging.getLogger("lite")
    log.info("storage: %s (%s)", settings.storage_backend, settings.backend_reason)
    for setting in SETTINGS:  # what this process was told, secrets hidden
        if setting.name in environ:
            log.info("setting %s", describe(setting, environ))

    from hypercorn.asyncio import serve

    from lite import hypercorn_fix
    from lite.app import create_app

    hypercorn_fix.install()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(create_app(settings), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from lite.logs import configure_logging

    environ = read_environment()
    settings = settings_or_exit(environ)
    configure_logging(settings.lite_log_level, settings.lite_log_format)
    host = args.host or settings.lite_host
    port = settings.port if args.port is None else args.port
    config = hypercorn_config(args.config)
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.workers = 1  # serve() runs in this process; the file's 0 means the same to the CLI
    asyncio.run(_serve(settings.replace(lite_host=host, port=port), config, environ))
    return 0


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default=None, help="address to bind (default LITE_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default PORT; 0 = any)")
    serve.add_argument(
        "--config", default=None, help="Hypercorn TOML (default: config/hypercorn.toml)"
    )
    serve.set_defaults(func=cmd_serve)
    check = sub.add_parser("check", help="validate settings and storage")
    check.set_defaults(func=cmd_check)
    backend = sub.add_parser("backend", help="print the storage backend and why it was chosen")
    backend.set_defaults(func=cmd_backend)
