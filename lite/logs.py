"""Logging: one JSON object per line on stderr (containers collect it), readable text on a terminal.

Every library logs through the standard `logging` module; structlog's ProcessorFormatter renders
those records, so Hypercorn's lines, ours and tracebacks all come out in one format. Values bound
with `start_request` and `bind_request` (request id, user id) join every line logged while that
request runs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

FORMATS = ("auto", "json", "text")


def _renderer(form: str, stream: Any) -> Any:
    if form == "auto":
        form = "text" if stream.isatty() else "json"
    if form == "text":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer()


def _formatter(form: str, stream: Any) -> logging.Formatter:
    before: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer = _renderer(form, stream)
    after: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if isinstance(renderer, structlog.processors.JSONRenderer):
        # A traceback becomes one string field: the line stays one JSON object.
        after.append(structlog.processors.format_exc_info)
    after.append(renderer)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=before, processors=after)


def configure_logging(level: str, form: str = "auto", stream: Any = None) -> None:
    """Route every logger through one handler on the root; idempotent."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(_formatter(form, out))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Hypercorn gives its loggers handlers of their own (see config/hypercorn.toml, which also
    # removes them): send everything through the root instead, once.
    for name in ("hypercorn.error", "hypercorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def start_request(request_id: str) -> None:
    """From now on every line logged in this task names the request."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def bind_request(**values: Any) -> None:
    """Attach values (e.g. user_id, once known) to the current request's lines."""
    structlog.contextvars.bind_contextvars(**values)


def request_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


def end_request() -> None:
    structlog.contextvars.clear_contextvars()
