"""Vexa's own bot code, run for real: the driver bundle (tests/vexa/driver) under node, the media
it records, Vexa's MeetingToken minter and master codec (both vendored unmodified, upstream/).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "upstream"
BUNDLE = HERE / "build" / "driver.cjs"
NODE = shutil.which("node")
CODEC_PATH = "head/core/meetings/services/meeting-api/src/meeting_api/recording_codec.py"
TOKEN_PATH = "head/deploy/compose/tests/_token.py"

requires_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed (Debian nodejs; `make test` installs it)"
)


def _load(relative: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, UPSTREAM / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


codec = _load(CODEC_PATH, "vexa_recording_codec")
meeting_token = _load(TOKEN_PATH, "vexa_meeting_token")


def build_recording_master(chunks: list[bytes], media_format: str) -> bytes:
    """Vexa meeting-api's own master: the oracle every master here is compared with."""
    result: bytes = codec.build_recording_master(chunks, media_format)
    return result


def mint_meeting_token(
    meeting_id: int, user_id: int, secret: str, *, ttl_seconds: int = 7200
) -> str:
    """A MeetingToken as meeting-api mints it for the 0.10.x bot."""
    token: str = meeting_token.mint_meeting_token(
        meeting_id, user_id, "zoom", "8512345678", secret=secret, ttl_seconds=ttl_seconds
    )
    return token


def ensure_bundle() -> Path:
    """Bundle the driver (esbuild from tests/vexa/node_modules; `make test` runs `npm ci`)."""
    if NODE is None:
        pytest.skip("node is not installed")
    if not (HERE / "node_modules" / "esbuild").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    subprocess.run([NODE, str(HERE / "driver" / "build.mjs")], check=True, timeout=120)
    return BUNDLE


@dataclass
class BotRun:
    """What the bot printed: its log records and the driver's summary."""

    records: list[dict[str, Any]]
    summary: dict[str, Any]
    output: str

    def messages(self, text: str) -> list[dict[str, Any]]:
        """Records whose message ends with `text` (0.10.x moves the `[Recording]` prefix out)."""
        return [r for r in self.records if str(r.get("msg", "")).endswith(text)]

    @property
    def uploaded(self) -> list[int]:
        return [s["seq"] for s in self.summary["settled"] if s["ok"]]

    @property
    def lost(self) -> list[int]:
        return [s["seq"] for s in self.summary["settled"] if not s["ok"]]


def run_bot(scenario: dict[str, Any], workdir: Path, timeout: float = 120) -> BotRun:
    """Run one scenario (tests/vexa/driver/main.ts says what the keys mean) to its end."""
    assert NODE is not None
    path = workdir / f"scenario-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(scenario))
    env = {**os.environ, "PATH": f"{HERE / 'driver'}{os.pathsep}{os.environ.get('PATH', '')}"}
    if "pcm" in scenario:
        env["VEXA_FAKE_PCM"] = scenario["pcm"]
    done = subprocess.run(
        [NODE, str(BUNDLE), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )
    records = []
    for line in done.stdout.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    summaries = [r for r in records if "driver" in r]
    if done.returncode != 0 or not summaries or summaries[-1]["driver"] != "done":
        tail = f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        raise AssertionError(f"the bot driver failed:\n{tail}")
    return BotRun(records, summaries[-1], done.stdout)


RunBot = Callable[..., BotRun]


@pytest.fixture(scope="session")
def vexa_bot(tmp_path_factory: pytest.TempPathFactory) -> RunBot:
    """`vexa_bot(scenario)` runs Vexa's bot code on one scenario and returns what it logged."""
    ensure_bundle()
    workdir = tmp_path_factory.mktemp("vexa-bot")

    def run(scenario: dict[str, Any], timeout: float = 120) -> BotRun:
        return run_bot(scenario, workdir, timeout)

    return run


def ebml_clusters(webm: bytes) -> list[int]:
    """Offsets of the Segment's top-level Clusters (where MediaRecorder's timeslices start)."""

    def vint(pos: int, keep_marker: bool) -> tuple[int, int]:
        first = webm[pos]
        length = 8 - first.bit_length() + 1
        value = first if keep_marker else first & (0xFF >> length)
        for b in webm[pos + 1 : pos + length]:
            value = (value << 8) | b
        return value, pos + length

    _, pos = vint(0, True)  # EBML header
    size, pos = vint(pos, False)
    pos += size
    segment_id, pos = vint(pos, True)
    assert segment_id == 0x18538067, "not a WebM segment"
    _, pos = vint(pos, False)  # the segment's size (may be "unknown")
    offsets = []
    while pos < len(webm):
        element, body = vint(pos, True)
        size, body = vint(body, False)
        if element == 0x1F43B675:
            offsets.append(pos)
        pos = body + size
    return offsets


def timeslices(webm: bytes, count: int) -> list[bytes]:
    """Cut a WebM at cluster starts into `count` slices: the first carries the EBML header,
    the others are cluster-only, like a MediaRecorder's timeslices."""
    starts = ebml_clusters(webm)
    assert len(starts) >= count, f"{len(starts)} clusters, wanted {count} slices"
    step = len(starts) / count
    cuts = [0] + [starts[round(i * step)] for i in range(1, count)] + [len(webm)]
    return [webm[a:b] for a, b in itertools.pairwise(cuts)]


def write_blobs(slices: list[bytes], workdir: Path) -> list[str]:
    paths = []
    for i, data in enumerate(slices):
        path = workdir / f"timeslice-{i:05d}.webm"
        path.write_bytes(data)
        paths.append(str(path))
    return paths
