"""The image ships exactly what requirements.lock pins: no package more, none at another version."""

from __future__ import annotations

import json

from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.container.podman import RUN_FLAGS, podman
from tests.test_lock import pinned

INSTALLED = """
import json, sys
from importlib import metadata
found = {d.metadata["Name"]: d.version for d in metadata.distributions()}
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "installed": found}))
"""


def test_the_image_holds_the_locked_versions_and_nothing_else(image: str) -> None:
    done = podman(
        "run", "--rm", *RUN_FLAGS, "--entrypoint", "/opt/vexa-lite/bin/python", image,
        "-c", INSTALLED,
    )  # fmt: skip
    report = json.loads(done.stdout)
    installed = {canonicalize_name(k): Version(v) for k, v in report["installed"].items()}
    assert installed.pop(canonicalize_name("vexa-lite")) == Version("0.1.0")
    assert installed == pinned(report["python"])
