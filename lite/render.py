"""Domain objects → their JSON shapes, in one place: the API's bodies and webhook payloads.

The services return dataclasses and never build these; the HTTP layer renders with them, and the
app's wiring hands `recording` to the webhook outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lite.ingest import Received
from lite.manifest import VEXA_SOURCES, Manifest, MediaState, vexa_meeting_id
from lite.playback import DownloadLink
from lite.recordings import NewRecording, RecordingPage, RecordingView
from lite.retention import iso
from lite.sessions import SessionStatus

JSON = dict[str, Any]


def media_file(state: MediaState) -> JSON:
    return {
        "id": state.id,
        "type": state.media_type,
        "format": state.format,
        "content_type": state.content_type,
        "file_size_bytes": state.size,
        "duration_seconds": state.duration_seconds,
        "sha256": state.sha256,
        "chunk_count": state.chunk_count,
        "missing_chunks": list(state.missing_chunks),
        "problems": list(state.problems),
        "status": state.status,
        "created_at": state.created_at,
        "finalized_at": state.finalized_at,
        "compacted_at": state.compacted_at,
    }


def recording(view: RecordingView) -> JSON:
    manifest = view.manifest
    files = []
    for state in view.media:
        shown = media_file(state)
        shown["storage_path"] = manifest.storage_path(state)
        shown["storage_backend"] = view.storage_backend
        files.append(shown)
    kinds = {state.media_type for state in view.media}
    return {
        "id": manifest.id,
        "meeting_id": vexa_meeting_id(manifest.meeting_id),
        "user_id": manifest.user_id,
        "session_uid": manifest.session_uid,
        "source": VEXA_SOURCES.get(manifest.source, manifest.source),
        "status": manifest.status,
        "error_message": manifest.error_message,
        "created_at": manifest.created_at,
        "completed_at": manifest.completed_at,
        "media_files": files,
        # What Vexa's dashboard plays: it shows a player only when `audio` is set.
        "playback_url": {
            kind: f"/recordings/{manifest.id}/master?type={kind}" if kind in kinds else None
            for kind in ("audio", "video")
        },
        "expires_at": iso(view.expires_at) if view.expires_at else None,
    }


def page(found: RecordingPage) -> JSON:
    return {
        "recordings": [recording(view) for view in found.recordings],
        "next_cursor": found.next_cursor,
    }


def new_recording(made: NewRecording, base_url: str) -> JSON:
    uid = made.recording.manifest.session_uid
    return {
        **recording(made.recording),
        "upload_token": made.upload_token,
        "upload_token_expires_in": made.upload_token_expires_in,
        "upload_url": f"{base_url}/ingest/sessions/{uid}",
    }


def raw_path(recording_id: int, media_id: int) -> str:
    return f"/recordings/{recording_id}/media/{media_id}/raw"


def master(manifest: Manifest, state: MediaState, base_url: str) -> JSON:
    """Vexa's master lookup: `id` is the recording's, `media_file_id` the file's."""
    return {
        **media_file(state),
        "id": manifest.id,
        "recording_id": manifest.id,
        "media_file_id": state.id,
        "storage_path": manifest.storage_path(state),
        "raw_url": base_url + raw_path(manifest.id, state.id),
    }


def received(chunk: Received) -> JSON:
    return {
        "recording_id": chunk.session.recording_id,
        "media_file_id": chunk.media_file_id,
        "session_uid": chunk.session.session_uid,
        "media_type": chunk.media_type,
        "chunk_seq": chunk.seq,
        "sha256": chunk.sha256,
        "duplicate": chunk.duplicate,
        "status": chunk.status,
    }


def session_status(status: SessionStatus) -> JSON:
    media: JSON = {}
    for kind, progress in status.media.items():
        media[kind] = {
            "chunks": [{"seq": c.seq, "size": c.size, "sha256": c.sha256} for c in progress.chunks],
            "missing": progress.missing,
            "final_seq": progress.final_seq,
        }
        if progress.compacted is not None:
            media[kind]["compacted"] = progress.compacted
    return {
        "session_uid": status.session_uid,
        "recording_id": status.recording_id,
        "status": status.status,
        "media": media,
    }


def download(link: DownloadLink, recording_id: int, media_id: int, base_url: str) -> JSON:
    if link.presigned is not None:
        url, save = link.presigned
    else:
        url = f"{base_url}{raw_path(recording_id, media_id)}?{link.signed_query}"
        save = url + "&download=1"
    return {
        "url": url,
        "download_url": save,
        "filename": link.filename,
        "content_type": link.content_type,
        "file_size_bytes": link.size,
        "expires_in": link.ttl,
        "expires_at": datetime.fromtimestamp(link.expires_at, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
    }
