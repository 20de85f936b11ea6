"""`python -m tests.bench [--seconds N] [--only local,s3,ingest,startup,bots] [--keep]`: run and
print the table.

Each section starts its own servers in one throwaway directory (on the same disk as the app's
data) and ends them by pid. The settings environment of the caller is cleared first, so a
developer's AWS or LITE_* variables cannot change what is measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from lite.settings import SETTINGS
from tests.bench import bots, ingest, media, playback, scale, startup
from tests.bench.tools import Options, Row, log, table

SECTIONS: dict[str, Callable[[Path, Options], list[Row]]] = {
    "local": playback.run_local,
    "s3": playback.run_s3,
    "ingest": ingest.run,
    "scale": scale.run,
    "media": media.run,
    "startup": startup.run,
    "bots": bots.run,
}


def _clean_environment() -> None:
    for name in [s.name for s in SETTINGS] + [n for n in os.environ if n.startswith("AWS_")]:
        os.environ.pop(name, None)
    os.environ.update(
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per target")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    missing = [tool for tool in ("wrk", "nginx", "cat") if not _found(tool)]
    if missing:
        print(f"error: missing tools {missing}: run `make system-deps`", file=sys.stderr)
        return 1
    _clean_environment()
    opts = Options(seconds=args.seconds, rounds=max(1, args.rounds))
    work = Path(tempfile.mkdtemp(prefix="vexa-bench-", dir="/var/tmp"))
    started = time.monotonic()
    rows: list[Row] = []
    failed: list[str] = []
    try:
        for name in chosen:
            section_started = time.monotonic()
            log(f"section {name}")
            section_dir = work / name
            section_dir.mkdir()
            try:
                rows += SECTIONS[name](section_dir, opts)
            except Exception:
                failed.append(name)
                traceback.print_exc()
            log(f"section {name} took {time.monotonic() - section_started:.0f} s")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"Vexa Lite benchmarks: {os.cpu_count()} CPUs, loopback, wrk -t1, "
        f"best of {opts.rounds} interleaved {opts.seconds:g} s runs per server"
    )
    print()
    print(table(rows))
    print()
    print(f"total {time.monotonic() - started:.0f} s" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


def _found(tool: str) -> bool:
    return shutil.which(tool) is not None or os.path.exists(f"/usr/sbin/{tool}")


if __name__ == "__main__":
    raise SystemExit(main())
