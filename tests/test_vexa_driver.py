"""The harness itself: Vexa's bot code (tests/vexa/upstream, unmodified) runs under node and sends
what Vexa's bot sends. A stdlib server records the requests, so these checks do not depend on
the app: path without the query string, the bearer token, the `metadata` JSON part beside the flat
fields, and the MediaRecorder order (the empty final chunk before the last data chunk)."""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.mediafiles import make_webm, pcm
from tests.vexa import botkit
from tests.vexa.botkit import RunBot, build_recording_master, timeslices, write_blobs

pytestmark = botkit.requires_node
vexa_bot = botkit.vexa_bot


@dataclass
class Seen:
    path: str
    authorization: str
    fields: dict[str, Any]
    file: bytes


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[Seen]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields: dict[str, Any] = {}
        file = b""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes), name
            if name == "file":
                file = payload
            elif name == "metadata":
                fields["metadata"] = json.loads(payload)
            else:
                fields[str(name)] = payload.decode()
        self.seen.append(Seen(self.path, self.headers["Authorization"], fields, file))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[Seen]]]:
    seen: list[Seen] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_head_bot_mediarecorder_wire(
    vexa_bot: RunBot, recorder: tuple[str, list[Seen]], tmp_path: Path
) -> None:
    url, seen = recorder
    slices = timeslices(make_webm(4, seekable=False), 3)
    run = vexa_bot(
        {
            "bot": "head-meet",
            "upload_url": f"{url}/internal/recordings/upload?user_id=7",
            "token": "the-secret",
            "meeting_id": 12,
            "session_uid": "conn-1",
            "blobs": write_blobs(slices, tmp_path),
        }
    )
    assert run.uploaded == [0, 1, 3, 2]  # the empty final chunk overtakes the last data chunk
    assert {s.path for s in seen} == {"/internal/recordings/upload"}  # the query is dropped
    assert {s.authorization for s in seen} == {"Bearer the-secret"}
    final = seen[2]
    assert final.fields["is_final"] == "true" and final.fields["chunk_seq"] == "3"
    assert final.file == b""
    meta = seen[0].fields["metadata"]
    assert meta["meeting_id"] == 12 and meta["session_uid"] == "conn-1"
    assert meta["format"] == "webm" and meta["chunk_seq"] == 0 and meta["is_final"] is False
    assert "user_id" not in meta and "user_id" not in seen[0].fields
    by_seq = sorted(seen, key=lambda s: int(s.fields["chunk_seq"]))
    master = build_recording_master([s.file for s in by_seq], "webm")
    assert master == b"".join(slices)


@pytest.mark.parametrize("bot", ["head-zoom", "v010-zoom"])
def test_zoom_wav_pipeline_wire(
    bot: str, vexa_bot: RunBot, recorder: tuple[str, list[Seen]], tmp_path: Path
) -> None:
    url, seen = recorder
    audio = pcm(16000 * 2 + 500)  # two whole 1 s chunks and a tail
    source = tmp_path / f"{bot}.pcm"
    source.write_bytes(audio)
    run = vexa_bot(
        {
            "bot": bot,
            "upload_url": f"{url}/internal/recordings/upload",
            "token": "meeting-token",
            "meeting_id": 12,
            "session_uid": "zoom-1",
            "pcm": str(source),
            "pcm_bytes": len(audio),
            "chunk_seconds": 1,
        }
    )
    assert run.uploaded == [0, 1, 2]
    assert [s.fields["is_final"] for s in seen] == ["false", "false", "true"]
    assert all(s.fields["metadata"]["format"] == "wav" for s in seen)
    master = build_recording_master([s.file for s in seen], "wav")
    assert master[44:] == audio
