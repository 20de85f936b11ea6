"""Start-up stays lean (issue 16; the time itself is measured by `tests/bench/startup.py`, never
here): a local-backend app, started through its lifespan and answering `/readyz` 200, has not
imported what only other paths need: the S3 client, the `.env` parser (no `.env` here), package
metadata and resources (the console's files), the OpenAPI document builder, the assemblers (first
finalize or live playback), numpy and PyAV (first waveform peaks), httpx (first webhook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import lite
from tests.servers import ROOT

# The app as the image starts it (lite.asgi:create), its lifespan run, one GET /readyz through
# the raw ASGI interface; then every module the process holds.
PROBE = """
import asyncio, json, sys
from lite.asgi import create

async def readyz(app, state):
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/readyz", "raw_path": b"/readyz", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"lite.test")], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "state": dict(state)}
    await app(scope, receive, send)
    return sent[0]["status"]

async def main():
    app = create()
    async with app.router.lifespan_context(app) as state:
        status = await readyz(app, state)
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))

asyncio.run(main())
"""

NOT_AT_START = (
    "botocore",
    "aiobotocore",
    "boto3",
    "lite.storage.s3",
    "dotenv",
    "importlib.metadata",
    "lite.openapi",
    "importlib.resources",
    "lite.assemble",
    "lite.masterplan",
    "numpy",
    "av",
    "httpx",
)


def _started_modules(tmp_path: Path) -> set[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": str(tmp_path / "store"),
    }
    for name in list(env):
        if name.startswith(("S3_", "MINIO_", "AWS_")):
            del env[name]
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 200, done.stderr[-2000:]
    return set(report["modules"])


def test_a_ready_local_app_has_not_imported_what_other_paths_need(tmp_path: Path) -> None:
    modules = _started_modules(tmp_path)
    # The probe saw a started app: its services and the local store are loaded.
    assert {"lite.services", "lite.storage.local", "starlette.applications"} <= modules
    loaded = sorted(
        name for name in modules for heavy in NOT_AT_START if f"{name}.".startswith(f"{heavy}.")
    )
    assert not loaded, f"imported at start-up: {loaded}"


def test_the_version_metrics_report_is_the_installed_packages() -> None:
    # lite.metrics reports lite.__version__ (reading package metadata costs start-up time).
    assert lite.__version__ == metadata.version("vexa-lite")
