"""`vexa-lite keys create --user N`: an API key, printed once."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from lite.cli.common import emit_json, fail, settings_or_exit
from lite.errors import LiteError
from lite.settings import Settings


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
    settings = settings_or_exit()
    try:
        plain = asyncio.run(_create_key(settings, args.user, args.name))
    except LiteError as exc:
        fail(exc.message)
    if args.json:
        emit_json({"key": plain, "user_id": args.user, "name": args.name})
    else:
        print(plain)
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create an API key and print it")
    create.add_argument("--user", type=int, required=True, help="user id the key belongs to")
    create.add_argument("--name", default="", help="a label for the key")
    create.add_argument("--json", action="store_true", help="print a JSON document")
    create.set_defaults(func=cmd_keys_create)
