"""Podman tests of the built image. `make test-container` builds the image and runs
them; plain `make test` skips this directory, since building the image takes minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.podman import IMAGE, Pod, podman

HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    "podman tests of the image run with `make test-container` (it builds the image and sets "
    "LITE_CONTAINER_TESTS=1)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("LITE_CONTAINER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def image() -> str:
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {IMAGE} does not exist: run `make image` first")
    return IMAGE


@pytest.fixture
def pod(image: str) -> Iterator[Pod]:
    """Starts containers and volumes with names unique to this run; removes them all after."""
    started = Pod(image)
    try:
        yield started
    finally:
        started.cleanup()
