"""Command line: `vexa-lite serve|check|backend|keys|...` (also `python -m lite ...`).

Every command reads the same settings as the server (environment over `.env`); a failure is one
`error:` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lite.cli import keys, migrate, server, transfer, verify
from lite.cli.common import Exit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vexa-lite", description="Vexa Lite recordings")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (server, keys, transfer, migrate, verify):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except Exit as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    return result
