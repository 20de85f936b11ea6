"""A byte budget: how many chunk bytes may be held in memory at once, over all uploads. Pure.

An upload takes its share before its body is read and gives it back when it is answered; one that
does not fit is refused (503 Busy, with Retry-After) instead of being buffered, so a burst of bots
cannot grow the process without bound. A body larger than the whole budget still gets in when
nothing else is held, so no chunk is refused forever.
"""

from __future__ import annotations

from lite.errors import Busy


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no limit
        self.held = 0

    def take(self, amount: int) -> None:
        """Hold `amount` more bytes, or raise Busy when they do not fit."""
        if self.limit and self.held and self.held + amount > self.limit:
            raise Busy("too many chunk bytes are arriving at once; send this one again later")
        self.held += amount

    def give_back(self, amount: int) -> None:
        self.held -= amount
