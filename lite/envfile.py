"""Where settings come from: the process environment over an optional `.env` file."""

from __future__ import annotations

import os


def read_environment(directory: str | None = None) -> dict[str, str]:
    """What every entry point reads: the process environment over an optional `.env` file in the
    working directory (so `make run`, the CLI and the server agree on one store)."""
    from dotenv import dotenv_values

    path = os.path.join(directory or os.getcwd(), ".env")
    found = dotenv_values(path) if os.path.isfile(path) else {}
    return {**{k: v for k, v in found.items() if v is not None}, **os.environ}
