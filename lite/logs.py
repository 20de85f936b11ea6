"""Logging: one JSON object per line on stderr (containers collect it), readable text on a terminal.

Every library logs through the standard `logging` module and one formatter on the root handler
renders those records, so Hypercorn's lines, ours and tracebacks all come out in one format.
Values bound with `start_request` and `bind_request` (request id, user id) join every line logged
while that request runs.

The JSON form is rendered here with the standard library, field for field as structlog's
ProcessorFormatter would (event, context, level, logger, timestamp, extras, exception): it runs
once per request for the access line, and importing structlog (which pulls in rich) would cost the
server a third of its start-up. Text for a terminal is structlog's ConsoleRenderer, imported only
when that form is chosen.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

FORMATS = ("auto", "json", "text")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("lite_log_context", default=_EMPTY)
# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_RECORD_KEYS = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__)
_LEVELS = {"warn": "warning", "exception": "error"}


def _fallback(value: object) -> str:
    return repr(value)


def _exception_text(exc_info: Any) -> str:
    out = io.StringIO()
    traceback.print_exception(exc_info[0], exc_info[1], exc_info[2], None, out)
    return out.getvalue().removesuffix("\n")


def event_dict(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of one line, in the order structlog's foreign pre-chain gives them."""
    fields: dict[str, Any] = {"event": record.getMessage()}
    if record.exc_info:
        fields["exc_info"] = record.exc_info
    if record.stack_info:
        fields["stack_info"] = record.stack_info
    for name, value in _CONTEXT.get().items():
        fields.setdefault(name, value)
    name = record.levelname.lower()
    fields["level"] = _LEVELS.get(name, name)
    fields["logger"] = record.name
    now = datetime.datetime.now(tz=datetime.UTC)
    fields["timestamp"] = now.isoformat().replace("+00:00", "Z")
    for key, value in record.__dict__.items():
        if key not in _RECORD_KEYS:
            fields[key] = value
    return fields


_ENCODER = json.JSONEncoder(default=_fallback)  # json.dumps would make one per line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = event_dict(record)
        exc_info = fields.pop("exc_info", None)
        if exc_info:
            # A traceback becomes one string field: the line stays one JSON object.
            fields["exception"] = _exception_text(exc_info)
        return _ENCODER.encode(fields)


class BoundLine:
    """One logger's line with a fixed message and level, logged once per request.

    `logger.info(message, extra=fields)` works out the caller's file and line, the thread and the
    process for every line; here they are worked out once (per thread), and each line copies them
    and adds its time and fields. The record is the same as `logger.info` would make, but for the
    caller's location, which no formatter here prints.
    """

    def __init__(self, logger: logging.Logger, level: int, message: str) -> None:
        self.logger = logger
        self.level = level
        self.message = message
        self._fixed: dict[str, Any] = {}
        self._kind: type[logging.LogRecord] = logging.LogRecord

    def __call__(self, fields: Mapping[str, Any]) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        fixed = self._fixed
        if fixed.get("thread") != threading.get_ident():
            made = self._made()
            fixed, self._kind = made.__dict__, type(made)
            self._fixed = fixed
        record = self._kind.__new__(self._kind)
        record.__dict__.update(fixed)
        now = time.time()
        record.created = now
        record.msecs = int((now - int(now)) * 1000) + 0.0
        record.relativeCreated = fixed["relativeCreated"] + (now - fixed["created"]) * 1000
        record.__dict__.update(fields)
        self.logger.handle(record)

    def _made(self) -> logging.LogRecord:
        return self.logger.makeRecord(
            self.logger.name, self.level, __file__, 0, self.message, (), None
        )


def _console_formatter(colors: bool) -> logging.Formatter:
    import structlog

    def merge_context(logger: Any, method: str, fields: Any) -> Any:
        for name, value in _CONTEXT.get().items():
            fields.setdefault(name, value)
        return fields

    before: list[Any] = [
        merge_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    after: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.dev.ConsoleRenderer(colors=colors),
    ]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=before, processors=after)


def _formatter(form: str, stream: Any) -> logging.Formatter:
    if form == "auto":
        form = "text" if stream.isatty() else "json"
    if form == "text":
        return _console_formatter(colors=stream.isatty())
    return JsonFormatter()


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
    _CONTEXT.set({"request_id": request_id})


def bind_request(**values: Any) -> None:
    """Attach values (e.g. user_id, once known) to the current request's lines."""
    _CONTEXT.set({**_CONTEXT.get(), **values})


def request_context() -> dict[str, Any]:
    return dict(_CONTEXT.get())


def request_value(name: str) -> Any:
    """One value bound to the current request (None if unbound), without copying the rest."""
    return _CONTEXT.get().get(name)


def end_request() -> None:
    _CONTEXT.set(_EMPTY)
