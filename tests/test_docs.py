"""Comments point into the repository (to docs/architecture.md), never to an outside design doc.

Every code, config and doc file is read; a reference to a numbered section of a document that is
not in the repository fails, and so does a pointer to a section of docs/architecture.md that the
page does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Vexa's upstream sources, kept verbatim as fixtures, are not ours to comment.
VENDORED = ROOT / "tests" / "vexa" / "upstream"
TOP_FILES = ("Makefile", "Dockerfile.lite", "entrypoint.sh", "README.md", "pyproject.toml")
TREES = ("lite", "tests", "config", "deploy", "docs", ".ci")
SUFFIXES = {".py", ".sh", ".md", ".toml", ".conf", ".yaml", ".yml", ".json", ".ini", ".cfg", ""}
# Built from parts so this file does not match itself.
OUTSIDE_SECTION = re.compile("DESIGN" + r"\s*§")
POINTER = re.compile(r"docs/architecture\.md,\s*\"?([A-Za-z][^).\"]*)")
COMMENT_BREAK = re.compile(r"\s*\n\s*(?:#+|;+|//|\*)?\s*")


def project_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES if (ROOT / name).is_file()]
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*")):
            if (
                path.is_file()
                and path.suffix in SUFFIXES
                and VENDORED not in path.parents
                and "__pycache__" not in path.parts
            ):
                files.append(path)
    return files


def sections() -> set[str]:
    return {
        line.removeprefix("## ").strip()
        for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }


def test_the_scan_sees_the_code() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in project_files()}
    assert {"lite/settings.py", "Dockerfile.lite", "entrypoint.sh", "Makefile"} <= names
    assert not any(name.startswith("tests/vexa/upstream/") for name in names)


def test_no_comment_cites_an_outside_design_document() -> None:
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in project_files()
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        if OUTSIDE_SECTION.search(line)
    ]
    assert not cited, "point to docs/architecture.md instead:\n" + "\n".join(cited)


def test_pointers_name_sections_that_exist() -> None:
    known = sections()
    assert {"Layers", "Storage layout", "The life of a chunk", "Consistency rules"} <= known
    found: list[tuple[str, str]] = []
    for path in project_files():
        text = COMMENT_BREAK.sub(" ", path.read_text(encoding="utf-8", errors="replace"))
        found += [(path.name, match.group(1).strip()) for match in POINTER.finditer(text)]
    assert len(found) >= 5, found  # the scan finds the pointers the code makes
    unknown = [(name, section) for name, section in found if section not in known]
    assert not unknown, f"docs/architecture.md has no such section: {unknown}"


@pytest.mark.parametrize("section", ["Layers", "The life of a /raw request", "Storage layout"])
def test_architecture_page_has_the_promised_sections(section: str) -> None:
    assert section in sections()
