"""What recorder bots call: chunk upload (Vexa's multipart and the raw PUT), resume status,
finalize, and the session registration of Vexa's launcher."""

from __future__ import annotations

from typing import Any

from lite.openapi.build import (
    ID,
    MEDIA_BODY,
    RECORDER,
    SESSION_UID,
    TOKEN,
    answer,
    header,
    json_content,
    op,
    path_param,
    query,
)

SESSION = json_content(
    {
        "type": "object",
        "properties": {
            "session_uid": {"type": "string"},
            "user_id": ID,
            "recording_id": ID,
            "meeting_id": {"type": ["string", "null"]},
        },
    }
)
SESSION_BODY = json_content(
    {
        "type": "object",
        "required": ["session_uid", "user_id"],
        "properties": {
            "session_uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            "user_id": {"type": "integer", "minimum": 1},
            "meeting_id": {"type": ["string", "integer"]},
        },
    }
)
RECORDER_QUERY = [
    query("user_id", ID, "the owner, with the internal secret"),
    query("meeting_id", {"type": "string"}),
]
UPLOAD_FORM = {
    "type": "object",
    "required": ["file", "session_uid"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "session_uid": TOKEN,
        "media_type": {"type": "string", "default": "audio"},
        "media_format": {"type": "string", "default": "wav"},
        "format": {"type": "string"},
        "chunk_seq": {"type": "integer", "default": 0},
        "is_final": {"type": "string", "default": "true"},
        "duration_seconds": {"type": "number"},
        "sample_rate": {"type": "integer"},
        "user_id": {"type": "integer"},
        "meeting_id": {"type": "string"},
        "metadata": {"type": "string", "description": "JSON object; flat fields override it"},
    },
}
CHUNK_PARAMS = [
    SESSION_UID,
    path_param("media_type", TOKEN, "audio, video, ..."),
    path_param("seq", ID),
    query("format", {"type": "string"}, "instead of a media Content-Type"),
    *RECORDER_QUERY,
    header("X-Content-SHA256", {"type": "string"}, "hex sha256 of the body; checked"),
    header("X-Final", {"type": "string"}, "`true`: the last chunk of this media type"),
]

INGEST_PATHS: dict[str, dict[str, Any]] = {
    "/internal/recordings/upload": {
        "post": op(
            "Ingest one chunk, wire-compatible with Vexa's recording bot",
            "ingest",
            RECORDER,
            {
                "200": answer("the chunk was already stored (duplicate)", "IngestResult"),
                "201": answer("stored durably", "IngestResult"),
            },
            params=RECORDER_QUERY,
            body={"required": True, "content": {"multipart/form-data": {"schema": UPLOAD_FORM}}},
        ),
    },
    "/ingest/sessions/{session_uid}/{media_type}/chunks/{seq}": {
        "put": op(
            "Ingest one chunk as the raw body",
            "ingest",
            RECORDER,
            {
                "200": answer("the same bytes were already stored (duplicate)", "IngestResult"),
                "201": answer("stored durably", "IngestResult"),
            },
            params=CHUNK_PARAMS,
            body={"required": True, "content": MEDIA_BODY},
        ),
    },
    "/ingest/sessions/{session_uid}": {
        "get": op(
            "The chunks the server holds, for resuming",
            "ingest",
            RECORDER,
            {"200": answer("chunks, missing seqs and final seq per media type", "SessionStatus")},
            params=[SESSION_UID, *RECORDER_QUERY],
        ),
    },
    "/ingest/sessions/{session_uid}/finalize": {
        "post": op(
            "Assemble the session's masters now",
            "ingest",
            RECORDER,
            {"200": answer("the recording", "Recording")},
            params=[SESSION_UID, *RECORDER_QUERY],
        ),
    },
    "/internal/sessions": {
        "post": op(
            "Register a bot session's owner before the bot starts (Vexa's launcher)",
            "ingest",
            RECORDER,
            {
                "200": {"description": "already registered to this user", "content": SESSION},
                "201": {"description": "registered", "content": SESSION},
            },
            body={"required": True, "content": SESSION_BODY},
            description="Chunks sent with INTERNAL_API_SECRET alone then belong to `user_id`; "
            "a user's claim on the uid (POST /recordings) or an unassigned session is handed over.",
        ),
    },
}
