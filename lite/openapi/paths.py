"""Every route of the app as an OpenAPI operation. A test (tests/test_openapi.py) compares this
table with the app's routes both ways: a new route needs its entry here, see README "OpenAPI"."""

from __future__ import annotations

from typing import Any

from lite.openapi.build import (
    ADMIN,
    ID,
    MEDIA_ID,
    PUBLIC,
    RECORDER,
    RECORDING_ID,
    SESSION_UID,
    TOKEN,
    USER,
    USER_ID,
    answer,
    header,
    json_content,
    op,
    path_param,
    query,
)
from lite.openapi.schemas import RECORDING_STATUS, ref

BINARY = {"schema": {"type": "string", "format": "binary"}}
MEDIA_BODY = {"audio/*": BINARY, "video/*": BINARY, "application/octet-stream": BINARY}
PLAYED = {**MEDIA_BODY, "multipart/byteranges": BINARY}
RANGE_HEADERS = [
    header("Range", {"type": "string"}, "RFC 9110 byte ranges, e.g. `bytes=0-1023`"),
    header("If-Range", {"type": "string"}),
    header("If-None-Match", {"type": "string"}),
    header("If-Modified-Since", {"type": "string"}),
]
SIGNED_QUERY = [
    query("u", ID, "signed URL: the user"),
    query("exp", {"type": "integer"}, "signed URL: expiry, unix seconds"),
    query("sig", {"type": "string"}, "signed URL: the signature"),
    query("download", {"type": "string", "enum": ["1", "true"]}, "serve as an attachment"),
]
RAW = op(
    "The media file's bytes, with HTTP Range",
    "playback",
    [{"ApiKey": []}, {"SignedUrl": []}],
    {
        "200": {"description": "the whole file", "content": PLAYED},
        "206": {"description": "the range(s) asked for", "content": PLAYED},
        "304": {"description": "not modified"},
        "412": {"description": "precondition failed"},
        "416": {"description": "no satisfiable range (`Content-Range: bytes */size`)"},
    },
    params=[RECORDING_ID, MEDIA_ID, *SIGNED_QUERY, *RANGE_HEADERS],
    description="A recording in progress serves what has arrived (`Cache-Control: no-store`).",
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
OWNER_BODY = {
    "type": "object",
    "required": ["user_id"],
    "properties": {"user_id": {"type": "integer", "minimum": 1}},
}
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
# The files lite/http/console.py serves (a test keeps the two lists equal).
CONSOLE_FILE = path_param(
    "name",
    {
        "type": "string",
        "enum": ["app.js", "api.js", "format.js", "player.js", "upload.js", "style.css", "docs.js"],
    },
    "a file of the console",
)
DOCS_FILE = path_param(
    "name", {"type": "string", "enum": ["swagger-ui-bundle.js", "swagger-ui.css"]}, "Swagger UI"
)


def _text(description: str, media_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


PAGE = _text("the page", "text/html")


PATHS: dict[str, dict[str, Any]] = {
    "/recordings": {
        "post": op(
            "Create a recording for the caller",
            "recordings",
            USER,
            {"201": answer("the recording, an upload token and URL", "NewRecording")},
            body={"required": False, "content": json_content(ref("CreateRecording"))},
        ),
        "get": op(
            "The caller's recordings, newest first",
            "recordings",
            USER,
            {"200": answer("one page", "RecordingList")},
            params=[
                query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
                query("cursor", {"type": "string"}, "`next_cursor` of the previous page"),
                query(
                    "offset", {"type": "integer", "minimum": 0}, "skip this many (Vexa's paging)"
                ),
                query("meeting_id", {"type": "string"}),
                query("status", RECORDING_STATUS),
            ],
        ),
    },
    "/recordings/{recording_id}": {
        "get": op(
            "One recording with its media files",
            "recordings",
            USER,
            {"200": answer("the recording", "Recording")},
            params=[RECORDING_ID],
        ),
        "delete": op(
            "Delete every object of the recording",
            "recordings",
            USER,
            {"200": answer("deleted", "Deleted")},
            params=[RECORDING_ID, query("force", {"type": "string", "enum": ["true", "false"]})],
            description="A recording still receiving chunks is 409 unless `?force=true` (Vexa).",
        ),
        "patch": op(
            "Set the recording's retention: an expiry, forever, or the default",
            "recordings",
            USER,
            {"200": answer("the recording", "Recording")},
            params=[RECORDING_ID],
            body={"required": True, "content": json_content(ref("Retention"))},
        ),
    },
    "/recordings/{recording_id}/master": {
        "get": op(
            "The media file of one type (during the meeting: what has arrived)",
            "recordings",
            USER,
            {"200": answer("the media file and its raw_url", "Master")},
            params=[RECORDING_ID, query("type", TOKEN, "media type, default audio")],
            description="Vexa's shape: `id` is the recording's id, `media_file_id` the file's; "
            "`storage_path` is null until the master is built.",
        ),
    },
    "/recordings/{recording_id}/media/{media_id}/download": {
        "get": op(
            "A URL that plays without headers (presigned on S3, signed /raw on local)",
            "playback",
            USER,
            {"200": answer("the URL and its expiry", "Download")},
            params=[RECORDING_ID, MEDIA_ID],
        ),
    },
    "/recordings/{recording_id}/media/{media_id}/raw": {"get": RAW, "head": RAW},
    "/recordings/{recording_id}/media/{media_id}/peaks": {
        "get": op(
            "Waveform peaks of the finished media file (audiowaveform JSON version 2, 8 bits)",
            "playback",
            [{"ApiKey": []}, {"SignedUrl": []}],
            {
                "200": {
                    "description": "version, channels, sample_rate, samples_per_pixel, bits, "
                    "length, data (min, max per pixel), the format peaks.js reads",
                    "content": json_content({"type": "object"}),
                },
                "304": {"description": "not modified"},
            },
            params=[
                RECORDING_ID,
                MEDIA_ID,
                *SIGNED_QUERY[:3],
                header("If-None-Match", {"type": "string"}),
            ],
            description="Made once after finalize, in the background; same auth as /raw.",
        ),
    },
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
    "/admin/recordings": {
        "get": op(
            "Recordings of sessions nobody registered (not visible to any user)",
            "admin",
            ADMIN,
            {"200": answer("the unassigned recordings", "RecordingList")},
            params=[
                query(
                    "unassigned",
                    {"type": "string", "enum": ["true", "1"]},
                    "required: only unassigned recordings are listed here",
                )
            ],
        ),
    },
    "/admin/recordings/{recording_id}/owner": {
        "post": op(
            "Hand an unassigned recording to its owner (its objects move under that user)",
            "admin",
            ADMIN,
            {"200": answer("the recording, now the user's", "Recording")},
            params=[RECORDING_ID],
            body={"required": True, "content": json_content(OWNER_BODY)},
        ),
    },
    "/admin/users/{user_id}/api-keys": {
        "post": op(
            "Create an API key for a user (the key is shown once)",
            "admin",
            ADMIN,
            {"201": answer("the key", "NewApiKey")},
            params=[USER_ID],
            body={"required": False, "content": json_content(ref("KeyName"))},
        ),
        "get": op(
            "A user's API keys, without secrets",
            "admin",
            ADMIN,
            {"200": answer("the keys", "ApiKeyList")},
            params=[USER_ID],
        ),
    },
    "/admin/users/{user_id}/webhooks": {
        "post": op(
            "Register a webhook endpoint for a user's events (the secret is shown once)",
            "admin",
            ADMIN,
            {"201": answer("the endpoint and its signing secret", "NewWebhook")},
            params=[USER_ID],
            body={"required": True, "content": json_content(ref("WebhookTarget"))},
        ),
        "get": op(
            "A user's webhook endpoints, without secrets",
            "admin",
            ADMIN,
            {"200": answer("the endpoints", "WebhookList")},
            params=[USER_ID],
        ),
    },
    "/admin/users/{user_id}/webhooks/{webhook_id}": {
        "delete": op(
            "Remove a webhook endpoint",
            "admin",
            ADMIN,
            {"200": answer("the removed endpoint", "Webhook")},
            params=[USER_ID, path_param("webhook_id", {"type": "string"})],
        ),
    },
    "/admin/api-keys/{key_id}": {
        "delete": op(
            "Revoke an API key",
            "admin",
            ADMIN,
            {"200": answer("the revoked key", "ApiKey")},
            params=[path_param("key_id", {"type": "string"})],
        ),
    },
    "/healthz": {
        "get": op("Liveness (HEAD too)", "system", PUBLIC, {"200": answer("alive", "Health")}),
    },
    "/readyz": {
        "get": op(
            "Storage reachable and writable (else 503)",
            "system",
            PUBLIC,
            {"200": answer("ready", "Ready")},
        )
    },
    "/metrics": {
        "get": op(
            "Prometheus metrics",
            "system",
            PUBLIC,
            {"200": _text("metrics in the text exposition format", "text/plain")},
        )
    },
    "/": {"get": op("The console (a page)", "console", PUBLIC, {"200": PAGE})},
    "/console/{name}": {
        "get": op(
            "The console's script and style",
            "console",
            PUBLIC,
            {"200": {"description": "the file"}},
            params=[CONSOLE_FILE],
        )
    },
    "/openapi.json": {
        "get": op(
            "This document",
            "console",
            PUBLIC,
            {"200": {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}},
        )
    },
    "/docs": {"get": op("Swagger UI for this document", "console", PUBLIC, {"200": PAGE})},
    "/docs/{name}": {
        "get": op(
            "Swagger UI's files",
            "console",
            PUBLIC,
            {"200": {"description": "the file"}},
            params=[DOCS_FILE],
        )
    },
}
