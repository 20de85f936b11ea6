"""`vexa-lite upload FILE` and `vexa-lite download ID`: a person's files through the HTTP API.

Both talk to a running server (`--url`, default LITE_PUBLIC_URL or http://LITE_HOST:PORT) with an
API key (`--api-key` or LITE_API_KEY). A download goes to FILE.part first and resumes it with a
Range request (If-Range on the media's sha256), so an interrupted download continues where it
stopped; the finished file is checked against the sha256 the server reports.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lite.cli.common import emit_json, fail, settings_or_exit
from lite.cli.progress import Bar

if TYPE_CHECKING:  # httpx is imported by the commands that use it: `serve` starts without it
    import httpx

BLOCK = 1024 * 1024
TYPES = {".wav": "audio/wav", ".webm": "audio/webm", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}


def _client(args: argparse.Namespace) -> httpx.Client:
    import httpx

    settings = settings_or_exit()
    url = args.url or settings.lite_public_url or f"http://{settings.lite_host}:{settings.port}"
    key = args.api_key or settings.lite_api_key
    if not key:
        fail("no API key: pass --api-key or set LITE_API_KEY")
    return httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60)


def _checked(answer: httpx.Response, doing: str) -> httpx.Response:
    if answer.status_code >= 400:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.reason_phrase
        fail(f"{doing}: {answer.status_code} {message}")
    return answer


def _blocks(path: Path, bar: Bar) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            bar.advance(len(block))
            yield block


def cmd_upload(args: argparse.Namespace) -> int:
    import httpx

    path = Path(args.file)
    if not path.is_file():
        fail(f"{path}: no such file")
    content_type = TYPES.get(path.suffix.lower())
    if content_type is None:
        fail(f"{path}: unknown media type (use one of {', '.join(sorted(TYPES))})")
    try:
        with _client(args) as http:
            body = {"meeting_id": args.meeting_id} if args.meeting_id is not None else {}
            created = _checked(http.post("/recordings", json=body), "creating the recording")
            grant = created.json()
            headers = {
                "Authorization": f"Bearer {grant['upload_token']}",
                "Content-Type": content_type,
                "X-Final": "true",
            }
            with Bar(path.name, enabled=not args.json) as bar:
                bar.total(path.stat().st_size)
                url = f"{grant['upload_url']}/audio/chunks/0"
                stored = _checked(
                    http.put(url, content=_blocks(path, bar), headers=headers), "upload"
                )
    except httpx.HTTPError as exc:
        fail(f"cannot reach the server: {exc}")
    result = {"recording_id": grant["id"], **stored.json()}
    if args.json:
        emit_json(result)
    else:
        print(f"recording {grant['id']}: {result.get('status')} (sha256 {result.get('sha256')})")
    return 0


def _media(http: httpx.Client, recording_id: int) -> dict[str, Any]:
    recording = _checked(http.get(f"/recordings/{recording_id}"), "reading the recording").json()
    files = sorted(recording["media_files"], key=lambda m: m["type"] != "audio")
    if not files:
        fail(f"recording {recording_id} has no media files")
    media: dict[str, Any] = files[0]
    return media


def _fetch(http: httpx.Client, url: str, part: Path, etag: str | None, bar: Bar) -> int:
    """Append to `part` from where it ends; returns the offset the server resumed from."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-", "If-Range": etag} if have and etag else {}
    with http.stream("GET", url, headers=headers) as answer:
        if answer.status_code == 416:  # already complete
            return have
        _checked(answer, "download")
        resumed = have if answer.status_code == 206 else 0
        bar.total(resumed + int(answer.headers.get("content-length", 0)) or None)
        bar.advance(resumed)
        with open(part, "ab" if resumed else "wb") as out:
            for block in answer.iter_bytes(BLOCK):
                out.write(block)
                bar.advance(len(block))
    return resumed


def cmd_download(args: argparse.Namespace) -> int:
    import httpx

    try:
        with _client(args) as http:
            media = _media(http, args.id)
            target = Path(args.output or f"{args.id}.{media.get('format') or 'bin'}")
            part = target.with_name(target.name + ".part")
            url = f"/recordings/{args.id}/media/{media['id']}/raw"
            etag = f'"{media["sha256"]}"' if media.get("sha256") else None
            with Bar(target.name, enabled=not args.json) as bar:
                resumed = _fetch(http, url, part, etag, bar)
    except httpx.HTTPError as exc:
        fail(f"download interrupted ({exc}); run the same command again to resume")
    digest = _sha256(part)
    if media.get("sha256") and digest != media["sha256"]:
        fail(f"{part}: sha256 {digest} differs from the server's {media['sha256']}; remove it")
    os.replace(part, target)
    result = {"file": str(target), "bytes": target.stat().st_size, "sha256": digest}
    if args.json:
        emit_json({**result, "resumed_from": resumed})
    else:
        print(f"{target}: {result['bytes']} bytes" + (f", resumed at {resumed}" if resumed else ""))
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def register(sub: Any) -> None:
    for name, func, text in (
        ("upload", cmd_upload, "upload a media file as a new recording"),
        ("download", cmd_download, "download a recording's media (resumes)"),
    ):
        command = sub.add_parser(name, help=text)
        if name == "upload":
            command.add_argument("file", help="a .wav, .webm, .ogg or .mp3 file")
            command.add_argument("--meeting-id", default=None, help="meeting id to record")
        else:
            command.add_argument("id", type=int, help="recording id")
            command.add_argument("-o", "--output", default=None, help="file to write")
        command.add_argument("--url", default=None, help="server URL")
        command.add_argument("--api-key", default=None, help="API key (default LITE_API_KEY)")
        command.add_argument("--json", action="store_true", help="print one JSON document")
        command.set_defaults(func=func)
