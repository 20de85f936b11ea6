"""Where settings come from: the process environment over an optional `.env` file."""

from __future__ import annotations

import os


def read_environment(directory: str | None = None) -> dict[str, str]:
    """What every entry point reads: the process environment over an optional `.env` file in the
    working directory (so `make run`, the CLI and the server agree on one store)."""
    path = os.path.join(directory or os.getcwd(), ".env")
    found: dict[str, str | None] = {}
    if os.path.isfile(path):
        from dotenv import dotenv_values  # only when there is a file to parse

        found = dotenv_values(path)
    return {**{k: v for k, v in found.items() if v is not None}, **os.environ}
