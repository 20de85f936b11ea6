"""The fault suite (`make test-faults`): crashes, outages, a full disk and bursts against real
servers. Plain `make test` skips it; each check records a figure, printed as a table at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIGURES: list[tuple[str, str]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("LITE_FAULT_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="the fault suite runs with `make test-faults`")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault suite figures")
    width = max(len(name) for name, _ in FIGURES)
    for name, text in FIGURES:
        terminalreporter.write_line(f"{name:<{width}}  {text}")


class Figures:
    """One line per check: `record(name, key=value, ...)`, printed in the summary."""

    def record(self, name: str, **values: object) -> None:
        text = "  ".join(f"{k}={_show(v)}" for k, v in values.items())
        FIGURES.append((name, text))
        print(f"FIGURE {name}: {text}")


def _show(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


@pytest.fixture
def figures() -> Iterator[Figures]:
    yield Figures()
