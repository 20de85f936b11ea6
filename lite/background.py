"""Long-running loops of the app (the reconciler), supervised: each loop handles its own per-item
errors; if a loop ends anyway, that is logged with its cause and remembered, and readiness fails
naming it, so an orchestrator replaces the replica instead of it silently doing half its job."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("lite.background")


class Background:
    def __init__(self) -> None:
        self.stopped: dict[str, str] = {}

    async def supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run `loop`; cancellation (shutdown) passes through, anything else is recorded."""
        try:
            await loop()
        except Exception as exc:
            log.exception("background task %s died", name)
            self.stopped[name] = f"{type(exc).__name__}: {exc}"
        else:
            log.error("background task %s ended", name)
            self.stopped[name] = "ended"

    def problems(self) -> list[str]:
        """One line per loop that is no longer running."""
        return [f"background task {name} stopped ({why})" for name, why in self.stopped.items()]
