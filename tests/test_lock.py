"""requirements.lock: the image's runtime dependencies, pinned and hashed (`make lock`).

The lock must name every dependency of pyproject.toml at a version its specifier allows (the lower
bounds included), on every Python the package supports; pin every package it names exactly with
at least one sha256; and be closed: whatever a locked package requires (read from the metadata of
the packages installed here) is locked too. Dockerfile.lite must install from it with hashes
required and add the package without dependencies.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYTHONS = ("3.11", "3.12", "3.13")  # requires-python >= 3.11; the image runs 3.11 or 3.12
ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?:\s*;\s*(?P<marker>.+?))?\s*\\?$"
)
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*\\?$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self, python: str) -> bool:
        return self.marker is None or self.marker.evaluate(environment(python))


def environment(python: str) -> dict[str, str]:
    """A Linux x86_64 CPython of the given version: the image's platform."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "extra": "",
    }


def parse_lock(text: str) -> list[Pin]:
    pins: list[Pin] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = ENTRY.match(line)
        if entry:
            marker = Marker(entry["marker"]) if entry["marker"] else None
            name = canonicalize_name(entry["name"])
            pins.append(Pin(name, Version(entry["version"]), marker, 0))
        elif HASH.match(line) and pins:
            pins[-1] = dataclasses.replace(pins[-1], hashes=pins[-1].hashes + 1)
        else:
            raise AssertionError(f"requirements.lock: unexpected line {line!r}")
    return pins


def pinned(python: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for pin in parse_lock(LOCK.read_text(encoding="utf-8")):
        if pin.applies(python):
            assert pin.name not in found, f"{pin.name} pinned twice for Python {python}"
            found[pin.name] = pin.version
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_entry_is_pinned_exactly_with_hashes() -> None:
    pins = parse_lock(LOCK.read_text(encoding="utf-8"))
    assert len(pins) >= len(declared())
    unhashed = [pin.name for pin in pins if pin.hashes == 0]
    assert not unhashed, f"entries without --hash: {unhashed}"


@pytest.mark.parametrize("python", PYTHONS)
def test_every_dependency_is_locked_within_its_bounds(python: str) -> None:
    locked = pinned(python)
    for requirement in declared():
        if requirement.marker and not requirement.marker.evaluate(environment(python)):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside {requirement}: run `make lock`"
        )


def test_the_lock_is_closed_under_the_installed_metadata() -> None:
    """Whatever a locked package requires is locked too (walked from pyproject's dependencies
    through the metadata of the packages installed in this environment)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    locked = pinned(python)
    todo = [(requirement, "pyproject.toml") for requirement in declared()]
    seen: set[tuple[str, frozenset[str]]] = set()
    walked = 0
    while todo:
        requirement, wanted_by = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} (required by {wanted_by}) is not locked: run `make lock`"
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(installed.version) != locked[name]:
            continue  # another version here: its requirements may differ from the locked one's
        walked += 1
        for text in installed.requires or []:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(
                child.marker.evaluate({**environment(python), "extra": extra}) for extra in extras
            ):
                todo.append((child, name))
    assert walked >= len(declared()), "too few locked packages installed here to check the lock"


def test_the_image_installs_from_the_lock_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile.lite").read_text(encoding="utf-8")
    assert "COPY pyproject.toml README.md requirements.lock ./" in dockerfile
    assert re.search(r"pip install [^&]*--require-hashes -r requirements\.lock", dockerfile)
    assert re.search(r"pip install [^&]*--no-deps \.", dockerfile)
    assert "requirements.lock" not in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
