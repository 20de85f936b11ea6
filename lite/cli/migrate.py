"""`vexa-lite migrate --from local --to s3 [--dry-run] [--json]`: copy the store to a backend."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from lite.cli.common import emit_json, fail, settings_or_exit, warn
from lite.cli.progress import Bar
from lite.errors import LiteError
from lite.settings import BACKENDS, Settings

if TYPE_CHECKING:  # imported by the command itself, so `serve` does not load the migrator
    from lite.migrate import Tally
    from lite.storage.base import Storage


async def open_backend(settings: Settings, backend: str) -> Storage:
    """The configured storage of `backend` (its own variables: LOCAL_STORAGE_DIR, S3_*, ...)."""
    from lite.cli.server import storage_problem
    from lite.storage.factory import open_storage

    chosen = settings.replace(storage_backend=backend)
    problem = await storage_problem(chosen)
    if problem:
        fail(problem)
    return await open_storage(chosen)


async def _migrate(args: argparse.Namespace, bar: Bar) -> Tally:
    from lite.migrate import Events, Migration

    settings = settings_or_exit()
    source = await open_backend(settings, args.source)
    try:
        target = await open_backend(settings, args.target)
        try:

            def done(key: str, action: str, size: int) -> None:
                bar.advance(size)
                if args.json:  # one line per object, flushed: a killed run says what it did
                    emit_json({"key": key, "action": action, "bytes": size})

            events = Events(planned=lambda count, size: bar.total(size), done=done)
            return await Migration(source, target, args.dry_run, events).run()
        finally:
            await target.aclose()
    finally:
        await source.aclose()


def cmd_migrate(args: argparse.Namespace) -> int:
    from lite.migrate import summary_line

    if args.source == args.target:
        fail("--from and --to name the same backend")
    label = f"{args.source} → {args.target}"
    try:
        with Bar(label, enabled=not args.json) as bar:
            tally = asyncio.run(_migrate(args, bar))
    except LiteError as exc:
        fail(exc.message)
    for problem in tally.problems:
        warn(problem)
    if args.json:
        emit_json({"summary": tally.as_dict(), "dry_run": args.dry_run})
    else:
        print(summary_line(tally, args.dry_run))
    return 1 if tally.problems else 0


def register(sub: Any) -> None:
    migrate = sub.add_parser(
        "migrate", help="copy every object to another backend, verified and resumable"
    )
    migrate.add_argument("--from", dest="source", choices=BACKENDS, required=True)
    migrate.add_argument("--to", dest="target", choices=BACKENDS, required=True)
    migrate.add_argument("--dry-run", action="store_true", help="only say what would be copied")
    migrate.add_argument("--json", action="store_true", help="JSON lines: each object, a summary")
    migrate.set_defaults(func=cmd_migrate)
