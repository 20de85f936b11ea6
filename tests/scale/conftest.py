"""Replicas on a distributed store (`make test-scale`): plain `make test` skips this directory,
since the SeaweedFS cluster, three replicas and the load take a few minutes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SKIP_REASON = "scale tests run with `make test-scale` (it sets LITE_SCALE_TESTS=1)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("LITE_SCALE_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)
