"""`vexa-lite verify [--repair] [--json]`: check the configured store; 1 when damage remains."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from lite.cli.common import emit_json, fail, settings_or_exit
from lite.errors import LiteError

if TYPE_CHECKING:  # imported by the command itself, so `serve` does not load the store check
    from lite.storecheck import Report


async def _verify(repair: bool) -> Report:
    from lite.cli.migrate import open_backend
    from lite.storecheck import StoreCheck

    settings = settings_or_exit()
    storage = await open_backend(settings, settings.storage_backend)
    try:
        return await StoreCheck(storage, repair).run()
    finally:
        await storage.aclose()


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        report = asyncio.run(_verify(args.repair))
    except LiteError as exc:
        fail(exc.message)
    remaining = report.remaining
    if args.json:
        emit_json(
            {
                "recordings": report.recordings,
                "chunks": report.chunks,
                "masters": report.masters,
                "findings": [finding.as_dict() for finding in report.findings],
                "remaining": len(remaining),
            }
        )
    else:
        for finding in report.findings:
            done = f" → repaired: {finding.repaired}" if finding.repaired else ""
            hint = " (repairable with --repair)" if finding.repairable and not args.repair else ""
            print(f"{finding.kind}: {finding.key}: {finding.detail}{hint}{done}")
        print(
            f"checked {report.recordings} recordings, {report.chunks} chunks, "
            f"{report.masters} masters: {len(remaining)} problem(s) remain"
        )
    return 1 if remaining else 0


def register(sub: Any) -> None:
    verify = sub.add_parser("verify", help="check every chunk and master; --repair what is safe")
    verify.add_argument("--repair", action="store_true", help="rebuild masters, remove leftovers")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(func=cmd_verify)
