"""Progress bars (rich) on a terminal's stderr; nothing when stderr is a file or with --json."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Bar:
    def __init__(self, description: str, enabled: bool) -> None:
        self.description = description
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=None)
        return self

    def total(self, size: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=size, completed=0)

    def advance(self, size: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=size)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(kind, exc, tb)
